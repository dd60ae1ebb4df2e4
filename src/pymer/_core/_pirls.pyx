# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Penalized iteratively reweighted least squares (PIRLS) for GLMMs, on the PLS core.

For fixed theta (and beta, or with beta inside, nAGQ=0) PIRLS finds the
conditional mode of u: each iteration forms working weights and a working
response, rebuilds Z'WZ and Z'W[X z] from the rows, refactors through the PLS
core and takes the new (beta,) u with step-halving on the penalized deviance
sum(dev. residuals) + ||u||^2. The Laplace deviance is then
-2 log L = aic(y, mu) + ||u||^2 + log|L|^2, and adaptive Gauss-Hermite
quadrature refines it for a single scalar random-effects term.

The cost of a fit is the number of factorizations, so: PIRLS stops at the point
whose Newton step is negligible and keeps that point's factor (no refactoring
after convergence); the deviance, one log per observation, is evaluated only
where a step must be tested and at the mode; and an evaluation near the last
one starts from the first-order prediction of its mode (predict_u), from which
one Newton step usually reaches it.
"""
import numpy as np
from libc.math cimport log, exp, sqrt, fabs, fmax, INFINITY, NAN, isfinite
from libc.string cimport memcpy, memset
from libc.stdint cimport int64_t
from scipy.linalg.cython_blas cimport dgemm
from pymer._core._pls cimport PLS, blas_single, blas_restore
from pymer._core._zwz cimport locate_ztz
from pymer._core._compensated cimport neumaier_add, neumaier_total
from pymer._core._families cimport (linkinv, mu_eta, variance, dev_resid, loglik_obs,
                                    aic_total, has_dispersion, valid_mu,
                                    FAM_BINOMIAL, FAM_POISSON, LINK_LOGIT, LINK_LOG)


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
        self.WXz = np.zeros((self.n, self.m if self.m > 1 else 0), dtype=np.float64, order="F")
        self.eta = np.zeros(self.n)
        self.mu = np.zeros(self.n)
        self.w = np.zeros(self.n)
        self.wres = np.zeros(self.n)
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
        self.XR = np.ascontiguousarray(self.X if self.joint and self.m > 1 else np.zeros((0, 0)))
        self.ZtR = np.zeros((self.q if self.joint and self.m > 1 else 0, self.m))
        self.beta_xb = np.zeros(self.p)
        self.xb_ok = False
        self.maxit = 100
        self.zpos = np.empty((self.n, self.K * self.K), dtype=np.int64)
        with nogil:
            locate_ztz(self.zcols, self.colptr, self.rowind, self.zpos)
        self.tol = 1e-10       # on the proposed step, relative to 1 + max |u| (see run)
        self.tol_here = 1e-13
        self.kind = 0
        if family == FAM_BINOMIAL and link == LINK_LOGIT:
            self.kind = 1
        elif family == FAM_POISSON and link == LINK_LOG:
            self.kind = 2
        yy = np.asarray(self.y)
        with np.errstate(all="ignore"):
            self.ylogy = (np.where(yy > 0, yy * np.log(np.where(yy > 0, yy, 1.0)), 0.0)
                          + np.where(yy < 1, (1 - yy) * np.log(np.where(yy < 1, 1 - yy, 1.0)), 0.0))
        self.aic_const_ok = False
        self.aic_const_theta = NAN
        self.at_mode = False
        self.Told = np.zeros(pls.Tbuf.shape[0])
        self.dq1 = np.zeros(self.q)
        self.dq2 = np.zeros(self.q)

    # ---- kernels ---------------------------------------------------------------
    cdef void compute_Xb(self) noexcept nogil:
        cdef Py_ssize_t i, j, n = self.n
        cdef double bj
        cdef double *Xb = &self.Xb[0]
        cdef const double *Xj
        memset(Xb, 0, n * sizeof(double))
        for j in range(self.p):           # column by column: X is column-major
            Xj = &self.X[0, j]
            bj = self.beta[j]
            for i in range(n):
                Xb[i] += Xj[i] * bj
        if not self.joint:
            if self.p > 0:
                memcpy(&self.beta_xb[0], &self.beta[0], self.p * sizeof(double))
            self.xb_ok = True

    cdef void refresh_Xb(self) noexcept nogil:
        """Xb at the current beta: recomputed unless (u only) beta is Xb's."""
        cdef Py_ssize_t j
        if self.xb_ok and not self.joint:
            for j in range(self.p):
                if self.beta[j] != self.beta_xb[j]:
                    break
            else:
                return
        self.compute_Xb()

    cdef bint update_eta(self) noexcept nogil:
        """eta, mu, the working weights w and residuals (y - mu)/mu_eta from beta (Xb)
        and u, and ||u||^2. False when some mu leaves the family's domain (possible
        with non-canonical links), so that step-halving steps back from there.

        Binomial/logit and Poisson/log are inlined (one exp per observation) where
        their links need no clamping; the rest goes through the family's functions.
        The deviance is a second pass, penalized_deviance, when it is needed.
        """
        cdef Py_ssize_t i, a, n = self.n, K = self.K
        cdef double acc, usq = 0.0, usq_c = 0.0, mu, me, var, e, yi
        cdef bint valid = True
        cdef int kind = self.kind
        # raw pointers: the compiler cannot keep memoryview fields in registers
        # across stores to doubles (extensions build with -fno-strict-aliasing)
        cdef const double *y = &self.y[0]
        cdef const double *pw = &self.pw[0]
        cdef const double *off = &self.offset[0]
        cdef const double *Xb = &self.Xb[0]
        cdef const double *zv = &self.zvals[0, 0]
        cdef const int64_t *zc = &self.zcols[0, 0]
        cdef const double *b
        cdef double *eta = &self.eta[0]
        cdef double *mup = &self.mu[0]
        cdef double *w = &self.w[0]
        cdef double *wres = &self.wres[0]
        self.dev_ok = False
        if self.q == 0:
            return False
        self.pls.lambda_apply_nogil(&self.u[0], &self.b[0])
        b = &self.b[0]
        for i in range(n):
            acc = off[i] + Xb[i]
            for a in range(K):
                acc += zv[i * K + a] * b[zc[i * K + a]]
            eta[i] = acc
            yi = y[i]
            if kind == 1 and fabs(acc) <= 30.0:
                # R's logit: mu = 1/(1 + e^-eta), mu_eta = e^-|eta|/(1 + e^-|eta|)^2
                # = e^-eta mu^2, which is also the variance mu (1 - mu)
                e = exp(-acc)
                mu = 1.0 / (1.0 + e)
                me = e * mu * mu
                mup[i] = mu
                w[i] = pw[i] * me
                wres[i] = (yi - mu) / me
                continue
            elif kind == 2 and -36.0 < acc < 700.0:
                # log link above its clamp at DBL_EPSILON: mu = mu_eta = variance = e^eta
                mu = exp(acc)
                me = mu
                var = mu
            else:
                mu = linkinv(self.link, acc)
                if not valid_mu(self.family, mu):
                    valid = False
                me = mu_eta(self.link, acc)
                var = variance(self.family, mu, self.nb_theta)
            mup[i] = mu
            w[i] = pw[i] * me * me / var
            wres[i] = (yi - mu) / me
        for i in range(self.q):
            neumaier_add(&usq, &usq_c, self.u[i] * self.u[i])
        self.usq = neumaier_total(usq, usq_c)
        return valid

    cdef double penalized_deviance(self) noexcept nogil:
        """sum of deviance residuals + ||u||^2 at the point of the last update_eta
        (infinite outside the family's domain); computed once per point.

        Binomial/logit: 2 pw (y log(y/mu) + (1-y) log((1-y)/(1-mu))) is
        2 pw (ylogy - log(mu) + (1-y) eta), ylogy = y log y + (1-y) log(1-y) (0 for
        y in {0, 1}), one log per observation.
        """
        cdef Py_ssize_t i
        cdef double dev = 0.0, dev_c = 0.0, yi, acc, mu
        cdef const double *y = &self.y[0]
        cdef const double *ylogy = &self.ylogy[0]
        cdef const double *pw = &self.pw[0]
        cdef const double *eta = &self.eta[0]
        cdef const double *mup = &self.mu[0]
        cdef int kind = self.kind
        if not self.dev_ok:
            for i in range(self.n):
                acc = eta[i]
                yi = y[i]
                mu = mup[i]
                if kind == 1 and fabs(acc) <= 30.0:
                    neumaier_add(&dev, &dev_c, 2.0 * pw[i] * (ylogy[i] - log(mu) + (1.0 - yi) * acc))
                elif kind == 2 and -36.0 < acc < 700.0:
                    if yi > 0.0:
                        neumaier_add(&dev, &dev_c, 2.0 * pw[i] * (yi * log(yi / mu) - (yi - mu)))
                    else:
                        neumaier_add(&dev, &dev_c, 2.0 * pw[i] * mu)
                else:
                    neumaier_add(&dev, &dev_c, dev_resid(self.family, yi, mu, pw[i], self.nb_theta))
            self.devsum = neumaier_total(dev, dev_c)
            self.dev_ok = True
        if not isfinite(self.devsum):
            return INFINITY
        return self.devsum + self.usq

    cdef void set_aic_const(self) noexcept nogil:
        """aic(y, mu) - sum of deviance residuals, when it does not depend on mu.

        For the binomial (integer counts), Poisson and negative binomial families
        -2 log f(y_i | mu) - d(y_i, mu) is a function of y_i (and NB theta) only;
        checked per observation at two values of mu (a binomial proportion that
        is not a whole number of successes out of its weight is not such a case).
        """
        cdef Py_ssize_t i
        cdef double ma, mb, da, ca, cb, acc = 0.0, acc_c = 0.0
        self.aic_const_ok = False
        self.aic_const_theta = self.nb_theta
        if has_dispersion(self.family):
            return
        ma, mb = (0.3, 0.6) if self.family == FAM_BINOMIAL else (0.7, 2.5)
        for i in range(self.n):
            da = dev_resid(self.family, self.y[i], ma, self.pw[i], self.nb_theta)
            ca = -2.0 * loglik_obs(self.family, self.y[i], ma, self.pw[i], self.nb_theta) - da
            cb = (-2.0 * loglik_obs(self.family, self.y[i], mb, self.pw[i], self.nb_theta)
                  - dev_resid(self.family, self.y[i], mb, self.pw[i], self.nb_theta))
            if not (fabs(ca - cb) <= 1e-9 * (1.0 + fabs(ca) + fabs(da))):
                return
            neumaier_add(&acc, &acc_c, ca)
        self.aic_const = neumaier_total(acc, acc_c)
        self.aic_const_ok = True

    cdef void build_crossprods(self) noexcept nogil:
        """Z'WZ, Z'W[X z], [X z]'W[X z] into the PLS core, at the working weights and
        response that update_eta left for the current point."""
        cdef Py_ssize_t i, a, bb, j, c, n = self.n, K = self.K, q = self.q, m = self.m, K2 = K * K
        cdef int nn = <int> self.n, mm = <int> self.m
        cdef double wi, v, acc = 0.0, one = 1.0, zero = 0.0
        cdef char tr = b'T', notr = b'N'
        cdef int saved[4]
        cdef double *ztz = &self.pls.ztz[0]
        cdef double *ZtXy = &self.pls.ZtXy[0, 0]      # q x m, column-major
        cdef double *XytXy = &self.pls.XytXy[0, 0]    # m x m
        cdef double *Xz = &self.Xz[0, 0]              # n x m, column-major
        cdef double *zcol = Xz + (m - 1) * n          # the working response
        cdef double *WXz
        cdef const double *w = &self.w[0]
        cdef const double *eta = &self.eta[0]
        cdef const double *off = &self.offset[0]
        cdef const double *wres = &self.wres[0]
        cdef const double *Xb = &self.Xb[0]
        cdef const double *zv = &self.zvals[0, 0]
        cdef const int64_t *zc = &self.zcols[0, 0]
        cdef const int64_t *zp = &self.zpos[0, 0]
        cdef const double *zi
        cdef const int64_t *pi
        cdef double v0, v1
        memset(ztz, 0, self.pls.ztz.shape[0] * sizeof(double))
        memset(ZtXy, 0, q * m * sizeof(double))
        if m == 1 and K == 2:
            # u only, two random-effects columns per row (two scalar terms, or one
            # intercept-slope term): the scatter unrolled
            for i in range(n):
                v = eta[i] - off[i] + wres[i] - Xb[i]
                wi = w[i]
                acc += wi * v * v
                zi = zv + 2 * i
                pi = zp + 4 * i
                v0 = wi * zi[0]
                v1 = wi * zi[1]
                ZtXy[zc[2 * i]] += v0 * v
                ZtXy[zc[2 * i + 1]] += v1 * v
                ztz[pi[0]] += v0 * zi[0]
                ztz[pi[1]] += v0 * zi[1]
                ztz[pi[2]] += v1 * zi[0]
                ztz[pi[3]] += v1 * zi[1]
            XytXy[0] = acc
            return
        if m > 1:
            # joint: row by row into ZtR; per entry the same sum in the same order
            memset(&self.ZtR[0, 0], 0, q * m * sizeof(double))
            self.scatter_joint(&self.ZtR[0, 0], zcol)
            for c in range(q):
                for j in range(m):
                    ZtXy[c + j * q] = self.ZtR[c, j]
        else:
            for i in range(n):
                # the working response of u
                v = eta[i] - off[i] + wres[i] - Xb[i]
                zcol[i] = v
                wi = w[i]
                acc += wi * v * v
                for bb in range(K):
                    c = zc[i * K + bb]
                    v = wi * zv[i * K + bb]
                    ZtXy[c] += v * zcol[i]
                    for a in range(K):
                        ztz[zp[i * K2 + bb * K + a]] += v * zv[i * K + a]
            XytXy[0] = acc
            return
        # [X z]'W[X z] = [X z]' (W [X z]) by BLAS, on this thread alone
        WXz = &self.WXz[0, 0]
        for j in range(m):
            for i in range(n):
                WXz[i + j * n] = w[i] * Xz[i + j * n]
        blas_single(saved)
        dgemm(&tr, &notr, &mm, &mm, &nn, &one, Xz, &nn, WXz, &nn, &zero, XytXy, &mm)
        blas_restore(saved)

    cdef void scatter_joint(self, double *ZtR, double *zcol) noexcept nogil:
        """Joint: Z'WZ, Z'W[X z] into ZtR (q x m, row by row), the working response z."""
        cdef Py_ssize_t i, a, bb, j, c, n = self.n, K = self.K, p = self.p, m = self.m, K2 = K * K
        cdef double wi, v, zi
        cdef double *ztz = &self.pls.ztz[0]
        cdef double *row
        cdef const double *xi
        cdef const double *XR = &self.XR[0, 0]
        cdef const double *w = &self.w[0]
        cdef const double *eta = &self.eta[0]
        cdef const double *off = &self.offset[0]
        cdef const double *wres = &self.wres[0]
        cdef const double *zv = &self.zvals[0, 0]
        cdef const int64_t *zc = &self.zcols[0, 0]
        cdef const int64_t *zp = &self.zpos[0, 0]
        for i in range(n):
            zi = eta[i] - off[i] + wres[i]
            zcol[i] = zi
            wi = w[i]
            xi = XR + i * p
            for bb in range(K):
                c = zc[i * K + bb]
                v = wi * zv[i * K + bb]
                row = ZtR + c * m
                for j in range(p):
                    row[j] += v * xi[j]
                row[p] += v * zi
                for a in range(K):
                    ztz[zp[i * K2 + bb * K + a]] += v * zv[i * K + a]

    cdef double step_size(self) noexcept nogil:
        """Largest component of the proposed step (u_new, beta_new) from the current
        point, relative to 1 + the largest component of the point."""
        cdef Py_ssize_t i
        cdef double d = 0.0, a = 0.0
        for i in range(self.q):
            d = fmax(d, fabs(self.u_new[i] - self.u[i]))
            a = fmax(a, fabs(self.u[i]))
        for i in range(self.p if self.joint else 0):
            d = fmax(d, fabs(self.beta_new[i] - self.beta[i]))
            a = fmax(a, fabs(self.beta[i]))
        return d / (1.0 + a)

    cdef void take_step(self, double s) noexcept nogil:
        """(beta,) u = old + s (new - old)."""
        cdef Py_ssize_t i
        for i in range(self.q):
            self.u[i] = self.u_old[i] + s * (self.u_new[i] - self.u_old[i])
        if self.joint:
            for i in range(self.p):
                self.beta[i] = self.beta_old[i] + s * (self.beta_new[i] - self.beta_old[i])
            self.compute_Xb()

    cdef int factor_here(self) noexcept nogil:
        """Cross-products at the current point, then L (and R_X) through the PLS core."""
        cdef int st
        self.build_crossprods()
        self.pls.update_A()
        st = self.pls.update_L()
        if st != 0:
            self.status = 10 + st
        return st

    cdef int run(self) noexcept nogil:
        """PIRLS from the current (beta,) u; theta already installed in the core.

        Each iteration factors at the current point and proposes the Newton step;
        when that step is negligible (below tol) the current point is the mode and
        its factor gives log|L|^2, so no refactorization follows convergence.
        Steps below 1e-6 are taken whole without evaluating the deviance: the
        change they make is far below the 1e-10 relative slack of the test.
        """
        cdef int it = 0, half, st
        cdef Py_ssize_t i
        cdef double pdev_old = NAN, pdev_new, s
        cdef bint improved, last = False
        self.nsteps = 0
        self.at_mode = False
        self.refresh_Xb()
        if not self.update_eta():
            # a warm start outside the family's domain: start again from u = 0
            for i in range(self.q):
                self.u[i] = 0.0
            if not self.update_eta():
                self.status = 30
                return self.status
        self.status = 0
        while True:
            if self.factor_here() != 0:
                return self.status
            if it >= self.maxit:
                if self.maxit > 0:
                    self.status = 1        # maxit reached
                break
            if self.joint:
                self.pls.solve_beta_nogil(&self.beta_new[0] if self.p else NULL)
            st = self.pls.solve_u_nogil(&self.beta_new[0] if self.p else NULL,
                                        &self.u_new[0] if self.q else NULL)
            if st != 0:
                self.status = 20 + st
                return self.status
            it += 1
            # converged when the proposed (full) step is negligible: a criterion on the
            # deviance alone stops too early for a non-canonical link or a dispersion
            # family, whose Laplace deviance moves to first order with u off the mode.
            # log|L|^2 moves to first order too: the current point (and its factor) is
            # the mode when the step is below tol_here; a step between tol_here and tol
            # is taken and refactored at, leaving an error of the order of its square
            s = self.step_size()
            if self.nsteps < 16:
                self.steps[self.nsteps] = s
                self.nsteps += 1
            if s < self.tol_here:
                break
            if s < self.tol:
                last = True
            for i in range(self.q):
                self.u_old[i] = self.u[i]
            for i in range(self.p):
                self.beta_old[i] = self.beta[i]
            improved = False
            if s < 1e-6:
                self.take_step(1.0)
                improved = self.update_eta()
                pdev_old = NAN
            else:
                if not (pdev_old == pdev_old):
                    pdev_old = self.penalized_deviance()
                s = 1.0
                for half in range(30):
                    self.take_step(s)
                    if self.update_eta():
                        pdev_new = self.penalized_deviance()
                        if pdev_new <= pdev_old + 1e-10 * fabs(pdev_old):
                            improved = True
                            pdev_old = pdev_new
                            break
                    s *= 0.5
            if not improved:
                # no step improves: back to the last point (converged to rounding),
                # whose factor is the one in the core
                for i in range(self.q):
                    self.u[i] = self.u_old[i]
                if self.joint:
                    for i in range(self.p):
                        self.beta[i] = self.beta_old[i]
                    self.compute_Xb()
                if not self.update_eta():
                    self.status = 30
                    return self.status
                break
            if last:
                if self.factor_here() != 0:
                    return self.status
                break
        pdev_old = self.penalized_deviance()
        if not isfinite(pdev_old):
            self.status = 30
            return self.status
        self.iterations = it
        self.pdev = pdev_old
        self.ldL2 = self.pls.logdetL
        self.at_mode = self.status == 0 and it > 0
        self.mode_nb_theta = self.nb_theta
        memcpy(&self.Told[0], &self.pls.Tbuf[0], self.Told.shape[0] * sizeof(double))
        if not has_dispersion(self.family) and self.aic_const_theta != self.nb_theta:
            self.set_aic_const()
        if self.aic_const_ok:
            self.aic = self.aic_const + self.devsum
        else:
            self.aic = aic_total(self.family, &self.y[0], &self.mu[0], &self.pw[0], self.n,
                                 self.nb_theta, self.devsum)
        return self.status

    cdef void lambdat_apply(self, const double *T, const double *v, double *out) noexcept nogil:
        """out = Lambda' v, Lambda with the per-term blocks T (laid out as the core's)."""
        cdef Py_ssize_t j = 0, c, s, k, t
        cdef double acc
        cdef const double *Tt
        while j < self.q:
            t = self.pls.col_term[j]
            k = self.pls.term_k[t]
            Tt = T + self.pls.term_toff[t]
            for c in range(k):
                acc = 0.0
                for s in range(c, k):
                    acc += Tt[s + c * k] * v[j + s]
                out[j + c] = acc
            j += k

    cdef int predict_u(self, const double *theta, const double *beta) noexcept nogil:
        """Install theta, and move u (joint: u and beta) from the mode at the current
        theta (and beta) to the first-order prediction of the mode at theta (and beta)
        given.

        The mode solves Lambda'Z'a + u = 0 (joint: and X'a = 0), a_i = -w_i (y_i -
        mu_i)/mu_eta_i the half derivative of the deviance in eta_i. Differentiating,
        with M = Lambda'Z'WZ Lambda + I (factored in the core at the mode) and the
        change of eta at fixed u, d eta = Z dLambda u + X d beta:

            M du = -(Lambda'Z'W d eta - dLambda'Z'W r),   r = (y - mu)/mu_eta,

        and for the joint mode (beta free, d eta = Z dLambda u) the same system
        bordered by X'WZ Lambda du + X'WX d beta = -X'W d eta, solved with the core's
        R_ZX and R_X. Lambda is linear in theta: dLambda = Lambda(new) - Lambda(old).
        Near the previous point this leaves PIRLS an error of second order in the
        change, so it usually needs one Newton step fewer. Returns 0, or nonzero
        (with theta installed, u and beta unchanged) when a solve fails or the
        prediction is too far to trust.
        """
        cdef Py_ssize_t i, j, k, a, n = self.n, q = self.q, K = self.K, p = self.p
        cdef double deta, wi, dbj, acc
        cdef int st
        cdef int saved[4]
        cdef double *xr = &self.beta_new[0] if p else NULL
        cdef double[::1, :] R = self.pls.RZXy
        cdef double[::1, :] U = self.pls.U
        cdef double *T = &self.pls.Tbuf[0]
        cdef double *Told = &self.Told[0]
        cdef double *s1 = &self.dq1[0]
        cdef double *s2 = &self.dq2[0]
        cdef double *db = &self.u_new[0]
        cdef double *dxb = &self.work[0]
        cdef const double *w = &self.w[0]
        cdef const double *wres = &self.wres[0]
        cdef const double *zv = &self.zvals[0, 0]
        cdef const int64_t *zc = &self.zcols[0, 0]
        cdef const double *Xj
        cdef const double *XR = NULL
        self.pls.fill_T(theta)
        # Z dLambda u, through b = Lambda(old) u of the mode
        self.pls.lambda_apply_nogil(&self.u[0], db)
        for j in range(q):
            db[j] -= self.b[j]
        memset(dxb, 0, n * sizeof(double))
        if not self.joint:
            for j in range(p):
                Xj = &self.X[0, j]
                dbj = beta[j] - self.beta[j]
                for i in range(n):
                    dxb[i] += Xj[i] * dbj
        memset(s1, 0, q * sizeof(double))
        memset(s2, 0, q * sizeof(double))
        for i in range(n):
            deta = dxb[i]
            for a in range(K):
                deta += zv[i * K + a] * db[zc[i * K + a]]
            wi = w[i]
            dxb[i] = wi * deta
            for a in range(K):
                s1[zc[i * K + a]] += wi * zv[i * K + a] * deta
                s2[zc[i * K + a]] += wi * zv[i * K + a] * wres[i]
        if self.joint:
            # X'W d eta, then minus (the bordered right-hand side)
            for j in range(p):
                Xj = &self.X[0, j]
                acc = 0.0
                for i in range(n):
                    acc += Xj[i] * dxb[i]
                xr[j] = acc
        # rhs = Lambda(old)'(s1 + s2) - Lambda(new)' s2, into db
        for j in range(q):
            s1[j] += s2[j]
        self.lambdat_apply(Told, s1, db)
        self.lambdat_apply(T, s2, s1)
        for j in range(q):
            db[j] -= s1[j]
        blas_single(saved)
        st = self.pls.solve_fwd(db, 1)
        if st == 0 and self.joint:
            # c_beta = R_X'^-1 (x_r - R_ZX' c_u), d beta = R_X^-1 c_beta, c_u -= R_ZX d beta
            for j in range(p):
                acc = xr[j]
                for i in range(q):
                    acc -= R[i, j] * db[i]
                for k in range(j):
                    acc -= U[k, j] * xr[k]
                xr[j] = acc / U[j, j]
            for j in range(p - 1, -1, -1):
                acc = xr[j]
                for k in range(j + 1, p):
                    acc -= U[j, k] * xr[k]
                xr[j] = acc / U[j, j]
            for i in range(q):
                acc = 0.0
                for j in range(p):
                    acc += R[i, j] * xr[j]
                db[i] -= acc
        if st == 0:
            st = self.pls.solve_bwd(db, 1)
        blas_restore(saved)
        if st != 0:
            return st
        # trust the linearization only while it moves no linear predictor by more than
        # 1 (from a variance at 0, say, the mode bends away from its tangent at once)
        self.pls.lambda_apply_nogil(db, s1)
        if self.joint:
            XR = &self.XR[0, 0]
        for i in range(n):
            deta = 0.0
            for a in range(K):
                deta += zv[i * K + a] * s1[zc[i * K + a]]
            if self.joint:
                for j in range(p):
                    deta += XR[i * p + j] * xr[j]
            if not fabs(deta) <= 1.0:
                return -1
        for j in range(q):
            self.u[j] -= db[j]
        if self.joint:
            for j in range(p):
                self.beta[j] -= xr[j]
        return 0

    # ---- Python API ------------------------------------------------------------
    def laplace(self, theta, beta=None, u0=None, bint predict=False):
        """Laplace deviance at theta (and beta; with beta inside PIRLS when joint).

        Returns aic(y, mu) + ||u||^2 + log|L|^2 at the conditional mode. PIRLS starts
        from (beta,) u0 (default: where it is), or with ``predict``, when the state is
        a converged mode, from the first-order prediction of the new mode from it
        (see predict_u; the start given is then ignored).
        """
        th = np.array(theta, dtype=np.float64, copy=True)
        if th.shape[0] == 0:
            th = np.zeros(1)
        cdef double[::1] thv = th
        cdef const double[::1] bv = self._given(beta, self.p, "beta")
        cdef const double[::1] uv = self._given(u0, self.q, "u0")
        cdef const double *bp = NULL if bv is None or self.p == 0 else &bv[0]
        cdef const double *up = NULL if uv is None or self.q == 0 else &uv[0]
        cdef bint given_b = bv is not None, given_u = uv is not None
        cdef double val
        with nogil:
            val = self.laplace_c(&thv[0], bp, up, given_b, given_u, predict)
        return val

    def _given(self, v, Py_ssize_t k, what):
        if v is None:
            return None
        a = np.ascontiguousarray(v, dtype=np.float64).ravel()
        if a.shape[0] != k:
            raise ValueError(f"{what} must have length {k}")
        return a

    cdef double laplace_c(self, const double *theta, const double *beta, const double *u0,
                          bint given_beta, bint given_u, bint predict) noexcept nogil:
        """:meth:`laplace` for compiled callers (beta, u0: given or not; NULL when of
        length 0): the same starts, the deviance or +inf where PIRLS fails."""
        cdef int st
        predict = (predict and self.at_mode and (self.joint or given_beta)
                   and self.mode_nb_theta == self.nb_theta)
        if predict:
            st = self.predict_u(theta, (&self.beta[0] if self.joint else beta) if self.p else NULL)
            if st != 0:
                if given_beta and self.p:
                    memcpy(&self.beta[0], beta, self.p * sizeof(double))
                if given_u and self.q:
                    memcpy(&self.u[0], u0, self.q * sizeof(double))
            elif not self.joint and self.p:
                memcpy(&self.beta[0], beta, self.p * sizeof(double))
        else:
            if given_beta and self.p:
                memcpy(&self.beta[0], beta, self.p * sizeof(double))
            if given_u and self.q:
                memcpy(&self.u[0], u0, self.q * sizeof(double))
        self.pls.fill_T(theta)
        st = self.run()
        if st != 0 and st != 1:
            return INFINITY
        return self.aic + self.usq + self.ldL2

    def agq(self, theta, beta, nodes, weights, u0=None, bint predict=False):
        """Adaptive Gauss-Hermite deviance for a single scalar random-effects term.

        ``nodes``/``weights`` are for the standard normal (weights sum to 1).
        """
        val = self.laplace(theta, beta, u0, predict)
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
