# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The Laplace approximation of a glmmTMB model with random effects in the conditional
and the zero-inflation model, compiled: one joint vector u = [u_cond, u_zi]
(b = Lambda u, u ~ N(0, I), Lambda block diagonal over both components' terms),

    -2 log L ~= -2 sum_i w_i l_i(eta_c, eta_z) + ||u||^2 + log|H|,   H = A' W A + I,

A = Z Lambda (row i: K entries, each in one component's linear predictor), W_i the
2 x 2 block of minus the weighted second derivatives of l_i in (eta_c, eta_z)
(:mod:`pymer._core._tmb_joint`). The mode is found by damped Newton steps on the
penalized log-density, each on the dense Cholesky factor of H (LAPACK dpotrf; an
indefinite H is replaced by its absolute eigenvalues for the step, dsyev), halved
until the objective falls; log|H| is that of the observed information at the mode.
The models this core takes have at most a few thousand random effects in all, where
a dense factor is the fast one. Everything after the allocations runs without the GIL,
on one BLAS thread.
"""
import numpy as np
from libc.math cimport log, fabs, fmax, INFINITY, isfinite
from libc.stdint cimport int64_t
from scipy.linalg.cython_lapack cimport dpotrf, dpotrs, dsyev
from pymer._core._pls cimport blas_single, blas_restore
from pymer._core._tmb_joint cimport joint_obs, joint_const_run


cdef class JointCore:
    """Laplace state over the joint random effects of the conditional and the
    zero-inflation model.

    Parameters
    ----------
    y, size, prior_weights : (n,) arrays
    family, link : int
        Compiled family and link codes.
    trunc, has_zi : bool
        A truncated (hurdle) family; whether the model has a zero part.
    cols : (n, K) int64 array
        The columns of u each row's entries belong to.
    zx : (n, K) array
        Z's values: each term's columns of its model matrix, term after term.
    comp : (K,) int32 array
        The component (0 conditional, 1 zero-inflation) of each entry.
    slot_term, slot_c : (K,) int32 arrays
        Each entry's term and column within the term.
    term_k, term_slot, term_toff : (nterms,) int32 arrays
        Each term's number of columns, first entry and first element of theta.
    q, ntheta : int
        The length of u and of theta.
    """

    def __init__(self, y, size, prior_weights, int family, int link, bint trunc, bint has_zi, cols, zx,
                 comp, slot_term, slot_c, term_k, term_slot, term_toff, Py_ssize_t q, Py_ssize_t ntheta):
        self.family, self.link, self.trunc, self.has_zi = family, link, trunc, has_zi
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.n = n = self.y.shape[0]
        self.size = np.ascontiguousarray(size, dtype=np.float64)
        self.pw = np.ascontiguousarray(prior_weights, dtype=np.float64)
        self.cols = np.ascontiguousarray(cols, dtype=np.int64)
        self.zx = np.ascontiguousarray(zx, dtype=np.float64)
        self.K = self.cols.shape[1]
        if self.cols.shape[0] != n or self.zx.shape[0] != n or self.zx.shape[1] != self.K:
            raise ValueError(f"cols and zx need {n} rows of the same width")
        self.comp = np.ascontiguousarray(comp, dtype=np.int32)
        self.slot_term = np.ascontiguousarray(slot_term, dtype=np.int32)
        self.slot_c = np.ascontiguousarray(slot_c, dtype=np.int32)
        self.term_k = np.ascontiguousarray(term_k, dtype=np.int32)
        self.term_slot = np.ascontiguousarray(term_slot, dtype=np.int32)
        self.term_toff = np.ascontiguousarray(term_toff, dtype=np.int32)
        self.nterms = self.term_k.shape[0]
        self.q, self.ntheta = q, ntheta
        if self.K and (np.asarray(self.cols).min() < 0 or np.asarray(self.cols).max() >= q):
            raise ValueError(f"cols must index u's {q} elements")
        self.vals = np.zeros((n, self.K))
        self.theta = np.zeros(ntheta)
        self.theta_set = False
        self.cst, self.cst0, self.fixc = np.zeros(n), np.zeros(n), np.zeros(n)
        self.fixz, self.etac, self.etaz = np.zeros(n), np.zeros(n), np.zeros(n)
        self.phi = np.ones(n)
        self.power = 1.5
        self.gd = np.zeros((n, 2))
        self.Wd = np.zeros((n, 3))
        m = max(q, 1)
        self.u, self.uw, self.un = np.zeros(m), np.zeros(m), np.zeros(m)
        self.step, self.grad, self.wvec = np.zeros(m), np.zeros(m), np.zeros(m)
        self.work = np.zeros(4 * m)
        self.H = np.zeros((m, m))
        self.F = np.zeros((m, m))
        self.maxit = 200
        self.status = 0
        self.iterations = 0
        joint_const_run(family, trunc, &self.y[0], &self.size[0], &self.phi[0], self.power, n,
                        &self.cst[0], &self.cst0[0])

    # ---- the compiled steps -------------------------------------------------------------
    cdef double evaluate(self, const double *u, bint derivs) noexcept nogil:
        """eta_c, eta_z and the weighted log-likelihood at u; returns the penalized
        objective -sum w l + ||u||^2 / 2 (infinite off the domain). With ``derivs``
        also the per-observation derivatives (gd, Wd), the gradient A'g (grad) and
        A'WA (H, both triangles)."""
        cdef Py_ssize_t i, a, b, n = self.n, K = self.K, q = self.q, ca
        cdef double ec, ez, li, ll = 0.0, w, va, usq = 0.0
        cdef double g[2]
        cdef double h[2][2]
        if derivs:
            for a in range(q):
                self.grad[a] = 0.0
                for b in range(q):
                    self.H[a, b] = 0.0
        for i in range(n):
            ec = self.fixc[i]
            ez = self.fixz[i]
            for a in range(K):
                if self.comp[a] == 0:
                    ec += self.vals[i, a] * u[self.cols[i, a]]
                else:
                    ez += self.vals[i, a] * u[self.cols[i, a]]
            self.etac[i] = ec
            self.etaz[i] = ez
            li = joint_obs(self.family, self.link, self.trunc, self.has_zi, self.y[i], self.size[i], ec, ez,
                           self.cst[i], self.cst0[i], self.phi[i], self.power,
                           &g[0], &g[1], &h[0][0], &h[1][1], &h[0][1])
            w = self.pw[i]
            ll += w * li
            if not derivs:
                continue
            h[1][0] = h[0][1]
            self.gd[i, 0] = w * g[0]
            self.gd[i, 1] = w * g[1]
            self.Wd[i, 0] = w * h[0][0]
            self.Wd[i, 1] = w * h[1][1]
            self.Wd[i, 2] = w * h[0][1]
            for a in range(K):
                va = w * self.vals[i, a]
                ca = self.cols[i, a]
                self.grad[ca] += va * g[self.comp[a]]
                for b in range(K):
                    self.H[ca, self.cols[i, b]] += va * self.vals[i, b] * h[self.comp[a]][self.comp[b]]
        if not isfinite(ll):
            return INFINITY
        for a in range(q):
            usq += u[a] * u[a]
        self.loglik_sum = ll
        return -ll + 0.5 * usq

    cdef int factor(self) noexcept nogil:
        """F = the Cholesky factor of H + I (column-major lower triangle); LAPACK's info."""
        cdef Py_ssize_t a, b, q = self.q
        cdef int qi = <int> q, info = 0
        cdef char lo = b'L'
        for a in range(q):
            for b in range(q):
                self.F[a, b] = self.H[a, b]
            self.F[a, a] += 1.0
        dpotrf(&lo, &qi, &self.F[0, 0], &qi, &info)
        return info

    cdef bint newton_step(self) noexcept nogil:
        """The Newton step (H + I)^-1 (u - A'g) at uw (after evaluate with derivatives)
        into step; True when H + I was positive definite (F then holds its factor),
        else the step on its absolute eigenvalues."""
        cdef Py_ssize_t a, j, q = self.q
        cdef int qi = <int> q, one = 1, info = 0, lwork = 3 * <int> q
        cdef char lo = b'L', vec = b'V'
        cdef double acc
        for a in range(q):
            self.step[a] = self.uw[a] - self.grad[a]
        if self.factor() == 0:
            dpotrs(&lo, &qi, &one, &self.F[0, 0], &qi, &self.step[0], &qi, &info)
            return True
        for a in range(q):
            for j in range(q):
                self.F[a, j] = self.H[a, j]
            self.F[a, a] += 1.0
        dsyev(&vec, &lo, &qi, &self.F[0, 0], &qi, &self.wvec[0], &self.work[0], &lwork, &info)
        if info != 0:
            return False                     # the gradient step, halved by the line search
        # eigenvector j is F's column j in column-major order: row j of the C array
        for j in range(q):
            acc = 0.0
            for a in range(q):
                acc += self.F[j, a] * self.step[a]
            self.un[j] = acc / fmax(fabs(self.wvec[j]), 1e-8)
        for a in range(q):
            acc = 0.0
            for j in range(q):
                acc += self.F[j, a] * self.un[j]
            self.step[a] = acc
        return False

    cdef int run(self) noexcept nogil:
        """Damped Newton steps to the mode from uw (theta and the fixed parts installed);
        leaves the mode in uw, the derivatives and F (the factor of H + I) there."""
        cdef Py_ssize_t a, q = self.q, it, hv
        cdef double f, fn, t, size, umax
        cdef bint pos_def = False, improved, factored = False
        f = self.evaluate(&self.uw[0], True)
        if not isfinite(f):
            for a in range(q):
                self.uw[a] = 0.0
            f = self.evaluate(&self.uw[0], True)
        if not isfinite(f):
            self.status = 30
            return 30
        self.status = 1
        for it in range(self.maxit):
            pos_def = self.newton_step()
            factored = pos_def
            size = 0.0
            umax = 0.0
            for a in range(q):
                size = fmax(size, fabs(self.step[a]))
                umax = fmax(umax, fabs(self.uw[a]))
            size /= 1.0 + umax
            if size < 1e-12 and pos_def:
                self.status = 0
                break
            t = 1.0
            improved = False
            for hv in range(40):
                for a in range(q):
                    self.un[a] = self.uw[a] - t * self.step[a]
                # with the derivatives: the point taken needs them next (a trial point
                # costs the same family terms either way)
                fn = self.evaluate(&self.un[0], True)
                if fn <= f + 1e-12 * fabs(f):
                    improved = True
                    break
                t *= 0.5
            factored = False
            if not improved:
                self.evaluate(&self.uw[0], True)
                self.status = 0
                break
            for a in range(q):
                self.uw[a] = self.un[a]
            f = fn
            self.iterations = it + 1
            if size < 1e-8 and pos_def and t == 1.0:
                # a quadratically convergent step this small has landed on the mode
                self.status = 0
                break
        if not factored and self.factor() != 0:
            self.status = 12
            return 12
        self.pen = f
        self.logdet = 0.0
        for a in range(q):
            self.logdet += 2.0 * log(self.F[a, a])
        return self.status

    # ---- Python API ---------------------------------------------------------------------
    def set_fixed(self, const double[::1] fixed):
        """Only the conditional model's fixed part of eta (the rest as it was)."""
        if fixed.shape[0] != self.n:
            raise ValueError(f"fixed needs {self.n} values")
        self.fixc[:] = fixed

    def set_parameters(self, const double[::1] fixed, const double[::1] etaz, const double[::1] phi,
                       double power=1.5):
        """Conditional X beta + offset, the zero-inflation model's fixed part, the
        dispersion per observation and the tweedie power."""
        if fixed.shape[0] != self.n or etaz.shape[0] != self.n or phi.shape[0] != self.n:
            raise ValueError(f"fixed, etaz and phi need {self.n} values")
        self.fixc[:] = fixed
        self.fixz[:] = etaz
        self.phi[:] = phi
        self.power = power
        with nogil:
            joint_const_run(self.family, self.trunc, &self.y[0], &self.size[0], &self.phi[0], power,
                            self.n, &self.cst[0], &self.cst0[0])

    def set_theta(self, const double[::1] theta):
        """A = Z Lambda's values: each term's columns of Z times its factor T
        (theta: T's lower triangles in lme4's order, term after term)."""
        cdef Py_ssize_t i, j, s, t, c, r, k, n = self.n
        cdef double acc
        cdef bint same = self.theta_set
        if theta.shape[0] != self.ntheta:
            raise ValueError(f"theta needs {self.ntheta} values")
        for j in range(self.ntheta):
            same = same and theta[j] == self.theta[j]
        if same:
            return
        with nogil:
            for j in range(self.ntheta):
                self.theta[j] = theta[j]
            for s in range(self.K):
                t = self.slot_term[s]
                c = self.slot_c[s]
                k = self.term_k[t]
                # T[r, c] = theta[toff + c k - c (c - 1) / 2 + r - c]
                j = self.term_toff[t] + c * k - (c * (c - 1)) // 2 - c
                for i in range(n):
                    acc = 0.0
                    for r in range(c, k):
                        acc += self.zx[i, self.term_slot[t] + r] * self.theta[j + r]
                    self.vals[i, s] = acc
        self.theta_set = True

    def laplace(self, theta, u0=None):
        """-2 log L by Laplace at theta (the other parameters installed), from u0
        (default: the last mode); inf where the mode or a positive definite H cannot
        be found."""
        cdef int st
        cdef const double[::1] uv
        cdef int saved[4]
        self.set_theta(np.ascontiguousarray(theta, dtype=np.float64))
        if u0 is not None:
            uv = np.ascontiguousarray(u0, dtype=np.float64)
            if uv.shape[0] != self.q:
                raise ValueError(f"u0 needs {self.q} values")
            self.uw[:self.q] = uv
        else:
            self.uw[:] = self.u
        with nogil:
            blas_single(saved)
            st = self.run()
            blas_restore(saved)
        if st not in (0, 1):
            return np.inf
        self.u[:] = self.uw
        return 2.0 * self.pen + self.logdet

    @property
    def theta_vec(self):
        """theta as last installed."""
        return np.asarray(self.theta).copy()

    @property
    def u_vec(self):
        return np.asarray(self.u)[:self.q].copy()

    @property
    def eta_vec(self):
        return np.asarray(self.etac).copy()

    @property
    def etaz_vec(self):
        return np.asarray(self.etaz).copy()

    @property
    def status_code(self):
        return self.status
