# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Penalized iteratively reweighted least squares (PIRLS) for GLMMs, on the PLS core.

For fixed theta (and beta, or with beta inside, nAGQ=0) PIRLS finds the
conditional mode of u: each iteration forms working weights and a working
response, rebuilds Z'WZ and Z'W[X z] from the rows, refactors through the PLS
core and takes the new (beta,) u with step-halving on the penalized deviance
sum(dev. residuals) + ||u||^2. The Laplace deviance is then
-2 log L = aic(y, mu) + ||u||^2 + log|L|^2, and adaptive Gauss-Hermite
quadrature refines it for a single scalar random-effects term.
"""
import numpy as np
from libc.math cimport log, exp, sqrt, fabs, fmax, INFINITY, isfinite
from libc.string cimport memcpy, memset
from libc.stdint cimport int64_t
from pymer._core._pls cimport PLS
from pymer._core._families cimport (linkinv, mu_eta, variance, dev_resid, loglik_obs,
                                    aic_total, has_dispersion, valid_mu)


cdef class PIRLS:
    """PIRLS state of one GLMM (the response side plus a PLS predictor core).

    Parameters
    ----------
    pls : PLS
        Predictor core; its ``p`` is the number of fixed effects for the joint
        (nAGQ=0) update and 0 for the u-only update.
    y, prior_weights, offset : (n,) arrays
    X : (n, p) array
    zcols, zvals : (n, K) arrays
        Z row-wise.
    family, link : int
        Codes from ``pymer.families``.
    """
    cdef PLS pls
    cdef readonly int family, link
    cdef public double nb_theta
    cdef readonly bint joint
    cdef Py_ssize_t n, p, q, K, m
    cdef double[::1] y, pw, offset, eta, mu, w, Xb, u, u_old, u_new, b, beta, beta_old, beta_new, work
    cdef double[::1, :] X, Xz
    cdef int64_t[:, ::1] zcols
    cdef int64_t[:, ::1] zpos     # where row i's (a, b) product goes in Z'WZ's values
    cdef double[:, ::1] zvals
    cdef int64_t[::1] colptr, rowind
    cdef public int maxit
    cdef public double tol
    cdef readonly double pdev, ldL2, devsum, aic, usq
    cdef readonly int iterations, status

    def __init__(self, PLS pls, y, prior_weights, offset, X, zcols, zvals, colptr, rowind,
                 int family, int link, double nb_theta=1.0):
        self.pls = pls
        self.family = family
        self.link = link
        self.nb_theta = nb_theta
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.n = self.y.shape[0]
        self.pw = np.ascontiguousarray(prior_weights, dtype=np.float64)
        self.offset = np.ascontiguousarray(offset, dtype=np.float64)
        self.X = np.asfortranarray(X, dtype=np.float64)
        self.zcols = np.ascontiguousarray(zcols, dtype=np.int64)
        self.zvals = np.ascontiguousarray(zvals, dtype=np.float64)
        self.colptr = np.ascontiguousarray(colptr, dtype=np.int64)
        self.rowind = np.ascontiguousarray(rowind, dtype=np.int64)
        self.p = self.X.shape[1]
        self.K = self.zcols.shape[1]
        self.q = pls.q
        self.joint = pls.p > 0
        if pls.p not in (0, self.p):
            raise ValueError("the PLS core must have p = 0 (u only) or p = X.shape[1] (nAGQ=0)")
        self.m = pls.m
        self.Xz = np.zeros((self.n, self.m), dtype=np.float64, order="F")
        self.eta = np.zeros(self.n)
        self.mu = np.zeros(self.n)
        self.w = np.zeros(self.n)
        self.Xb = np.zeros(self.n)
        self.work = np.zeros(self.n)
        self.u = np.zeros(self.q)
        self.u_old = np.zeros(self.q)
        self.u_new = np.zeros(self.q)
        self.b = np.zeros(self.q)
        self.beta = np.zeros(self.p)
        self.beta_old = np.zeros(self.p)
        self.beta_new = np.zeros(self.p)
        if self.joint:
            self.Xz[:, :self.p] = self.X
        self.maxit = 100
        self.zpos = np.empty((self.n, self.K * self.K), dtype=np.int64)
        with nogil:
            self.locate_ztz()
        self.tol = 1e-10       # on the proposed step, relative to 1 + max |u| (see run)

    # ---- kernels ---------------------------------------------------------------
    cdef void compute_Xb(self) noexcept nogil:
        cdef Py_ssize_t i, j
        cdef double acc
        for i in range(self.n):
            acc = 0.0
            for j in range(self.p):
                acc += self.X[i, j] * self.beta[j]
            self.Xb[i] = acc

    cdef double update_eta(self) noexcept nogil:
        """eta, mu from beta (Xb) and u; returns the penalized deviance.

        Infinite when some mu leaves the family's domain (possible with
        non-canonical links), so that step-halving steps back from there.
        """
        cdef Py_ssize_t i, a
        cdef double acc, dev = 0.0, usq = 0.0
        cdef bint valid = True
        self.pls.lambda_apply_nogil(&self.u[0] if self.q else NULL, &self.b[0] if self.q else NULL)
        for i in range(self.n):
            acc = self.offset[i] + self.Xb[i]
            for a in range(self.K):
                acc += self.zvals[i, a] * self.b[self.zcols[i, a]]
            self.eta[i] = acc
            self.mu[i] = linkinv(self.link, acc)
            if not valid_mu(self.family, self.mu[i]):
                valid = False
            dev += dev_resid(self.family, self.y[i], self.mu[i], self.pw[i], self.nb_theta)
        for i in range(self.q):
            usq += self.u[i] * self.u[i]
        self.devsum = dev
        self.usq = usq
        if not valid or not isfinite(dev):
            return INFINITY
        return dev + usq

    cdef void locate_ztz(self) noexcept nogil:
        """Once per model: the position in Z'WZ's CSC values of every row's products."""
        cdef Py_ssize_t i, a, bb, c, r, lo, hi, mid
        for i in range(self.n):
            for bb in range(self.K):
                c = self.zcols[i, bb]
                for a in range(self.K):
                    r = self.zcols[i, a]
                    lo = self.colptr[c]
                    hi = self.colptr[c + 1] - 1
                    while lo < hi:
                        mid = (lo + hi) // 2
                        if self.rowind[mid] < r:
                            lo = mid + 1
                        else:
                            hi = mid
                    self.zpos[i, bb * self.K + a] = lo

    cdef void build_crossprods(self) noexcept nogil:
        """Working weights and response; Z'WZ, Z'W[X z], [X z]'W[X z] into the PLS core."""
        cdef Py_ssize_t i, a, bb, j, k, c
        cdef double me, wi, zi, v
        cdef Py_ssize_t m = self.m, p = self.p
        for i in range(self.n):
            me = mu_eta(self.link, self.eta[i])
            v = variance(self.family, self.mu[i], self.nb_theta)
            wi = self.pw[i] * me * me / v
            self.w[i] = wi
            # working response of the part being solved for: (beta,) u
            zi = self.eta[i] - self.offset[i] + (self.y[i] - self.mu[i]) / me
            if not self.joint:
                zi -= self.Xb[i]
            self.Xz[i, m - 1] = zi
        memset(&self.pls.ztz[0], 0, self.pls.ztz.shape[0] * sizeof(double))
        for j in range(m):
            for i in range(self.q):
                self.pls.ZtXy[i, j] = 0.0
            for k in range(m):
                self.pls.XytXy[j, k] = 0.0
        for i in range(self.n):
            wi = self.w[i]
            for bb in range(self.K):
                c = self.zcols[i, bb]
                v = wi * self.zvals[i, bb]
                for j in range(m):
                    self.pls.ZtXy[c, j] += v * self.Xz[i, j]
                for a in range(self.K):
                    self.pls.ztz[self.zpos[i, bb * self.K + a]] += v * self.zvals[i, a]
            for j in range(m):
                v = wi * self.Xz[i, j]
                for k in range(j + 1):
                    self.pls.XytXy[k, j] += v * self.Xz[i, k]
        for j in range(m):
            for k in range(j):
                self.pls.XytXy[j, k] = self.pls.XytXy[k, j]

    cdef double step_size(self) noexcept nogil:
        """Largest component of the last proposed step, relative to the iterate."""
        cdef Py_ssize_t i
        cdef double d = 0.0, a = 0.0
        for i in range(self.q):
            d = fmax(d, fabs(self.u_new[i] - self.u_old[i]))
            a = fmax(a, fabs(self.u[i]))
        for i in range(self.p if self.joint else 0):
            d = fmax(d, fabs(self.beta_new[i] - self.beta_old[i]))
            a = fmax(a, fabs(self.beta[i]))
        return d / (1.0 + a)

    cdef int run(self) noexcept nogil:
        """PIRLS from the current (beta,) u; theta already installed in the core."""
        cdef int it, half, st
        cdef Py_ssize_t i
        cdef double pdev_old, pdev_new, s
        self.compute_Xb()
        pdev_old = self.update_eta()
        if not isfinite(pdev_old):
            # a warm start outside the family's domain: start again from u = 0
            for i in range(self.q):
                self.u[i] = 0.0
            pdev_old = self.update_eta()
            if not isfinite(pdev_old):
                self.status = 30
                return self.status
        self.status = 0
        for it in range(self.maxit):
            self.build_crossprods()
            self.pls.update_A()
            st = self.pls.update_L()
            if st != 0:
                self.status = 10 + st
                return self.status
            if self.joint:
                self.pls.solve_beta_nogil(&self.beta_new[0] if self.p else NULL)
            st = self.pls.solve_u_nogil(&self.beta_new[0] if self.p else NULL,
                                        &self.u_new[0] if self.q else NULL)
            if st != 0:
                self.status = 20 + st
                return self.status
            for i in range(self.q):
                self.u_old[i] = self.u[i]
            for i in range(self.p):
                self.beta_old[i] = self.beta[i]
            s = 1.0
            pdev_new = INFINITY
            for half in range(30):
                for i in range(self.q):
                    self.u[i] = self.u_old[i] + s * (self.u_new[i] - self.u_old[i])
                if self.joint:
                    for i in range(self.p):
                        self.beta[i] = self.beta_old[i] + s * (self.beta_new[i] - self.beta_old[i])
                    self.compute_Xb()
                pdev_new = self.update_eta()
                if isfinite(pdev_new) and pdev_new <= pdev_old + 1e-10 * fabs(pdev_old):
                    break
                s *= 0.5
            if not (isfinite(pdev_new) and pdev_new <= pdev_old + 1e-10 * fabs(pdev_old)):
                # no step improves: back to the last point (converged to rounding)
                for i in range(self.q):
                    self.u[i] = self.u_old[i]
                if self.joint:
                    for i in range(self.p):
                        self.beta[i] = self.beta_old[i]
                    self.compute_Xb()
                pdev_new = self.update_eta()
                if not isfinite(pdev_new):
                    self.status = 30
                    return self.status
                self.iterations = it + 1
                break
            self.iterations = it + 1
            pdev_old = pdev_new
            # converged when the proposed (full) step is negligible: a criterion on the
            # deviance alone stops too early for a non-canonical link or a dispersion
            # family, whose Laplace deviance moves to first order with u off the mode
            if self.step_size() < self.tol:
                break
        else:
            self.status = 1        # maxit reached
        self.pdev = pdev_old
        # log|L|^2 (and R_X) at the weights of the mode
        self.build_crossprods()
        self.pls.update_A()
        st = self.pls.update_L()
        if st != 0:
            self.status = 10 + st
            return self.status
        self.ldL2 = self.pls.logdetL
        self.aic = aic_total(self.family, &self.y[0], &self.mu[0], &self.pw[0], self.n,
                             self.nb_theta, self.devsum)
        return self.status

    # ---- Python API ------------------------------------------------------------
    def laplace(self, theta, beta=None, u0=None):
        """Laplace deviance at theta (and beta; with beta inside PIRLS when joint).

        Returns aic(y, mu) + ||u||^2 + log|L|^2 at the conditional mode.
        """
        th = np.array(theta, dtype=np.float64, copy=True)
        if th.shape[0] == 0:
            th = np.zeros(1)
        cdef double[::1] thv = th
        cdef int st
        if beta is not None:
            np.asarray(self.beta)[:] = np.asarray(beta, dtype=np.float64)
        if u0 is not None:
            np.asarray(self.u)[:] = np.asarray(u0, dtype=np.float64)
        with nogil:
            self.pls.fill_T(&thv[0])
            st = self.run()
        if st not in (0, 1):
            return np.inf
        return self.aic + self.usq + self.ldL2

    def agq(self, theta, beta, nodes, weights, u0=None):
        """Adaptive Gauss-Hermite deviance for a single scalar random-effects term.

        ``nodes``/``weights`` are for the standard normal (weights sum to 1).
        """
        val = self.laplace(theta, beta, u0)
        if not np.isfinite(val) or has_dispersion(self.family):
            return val
        z = np.ascontiguousarray(nodes, dtype=np.float64)
        wq = np.ascontiguousarray(weights, dtype=np.float64)
        cdef double[::1] zv = z, wv = wq
        cdef Py_ssize_t nq = z.shape[0], i, k, j
        cdef double th0 = float(theta[0]), acc, zval, g0
        q = self.q
        A = np.ones(q)          # diagonal of Lambda'Z'WZ Lambda + I (one scalar term)
        g_hat = np.zeros(q)     # -2 log f(y_j | u_j) + u_j^2 at the mode
        acc_q = np.zeros(q)     # sum_k w_k exp(-(g - g_hat)/2 + z_k^2/2)
        ushift = np.zeros(q)
        cdef double[::1] Av = A, ghv = g_hat, accv = acc_q, uv = ushift
        with nogil:
            for i in range(self.n):
                j = self.zcols[i, 0]
                Av[j] += self.w[i] * self.zvals[i, 0] * self.zvals[i, 0] * th0 * th0
                ghv[j] += -2.0 * loglik_obs(self.family, self.y[i], self.mu[i], self.pw[i], self.nb_theta)
            for j in range(q):
                ghv[j] += self.u[j] * self.u[j]
            for k in range(nq):
                for j in range(q):
                    uv[j] = self.u[j] + zv[k] / sqrt(Av[j])
                    self.work[j] = uv[j] * uv[j]       # g per level, start with the penalty
                for i in range(self.n):
                    j = self.zcols[i, 0]
                    acc = self.offset[i] + self.Xb[i] + self.zvals[i, 0] * th0 * uv[j]
                    self.work[j] += -2.0 * loglik_obs(self.family, self.y[i], linkinv(self.link, acc),
                                                      self.pw[i], self.nb_theta)
                for j in range(q):
                    accv[j] += wv[k] * exp(-0.5 * (self.work[j] - ghv[j]) + 0.5 * zv[k] * zv[k])
        return float(np.sum(g_hat + np.log(A) - 2.0 * np.log(acc_q)))

    @property
    def u_vec(self):
        return np.asarray(self.u).copy()

    @property
    def beta_vec(self):
        return np.asarray(self.beta).copy()

    @property
    def b_vec(self):
        """b = Lambda u at the current state."""
        return np.asarray(self.b).copy()

    @property
    def mu_vec(self):
        return np.asarray(self.mu).copy()

    @property
    def eta_vec(self):
        return np.asarray(self.eta).copy()

    @property
    def weights_vec(self):
        return np.asarray(self.w).copy()
