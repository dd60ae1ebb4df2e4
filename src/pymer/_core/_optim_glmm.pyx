# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The optimizer loop of a generalized linear mixed model in compiled code, on NLopt's C API.

A :class:`GlmmObjective` holds a GLMM's two PIRLS states and evaluates its deviance as
``GeneralizedLinearMixedModel.objective_nAGQ0`` (theta, beta inside PIRLS) and
``objective(par, 1)`` (the Laplace deviance of (theta, beta)) do, with the same warm
starts (the last mode reached, moved to first order where the log-likelihood is concave
in eta; else the lowest of the modes from the warm start and from u = 0), without a
Python call per evaluation.

A :class:`GlmmStage` is one stage of the fit's objective as the fit's incumbent
(``pymer.glmm_fit.Incumbent``) sees it: it keeps its best evaluation and the PIRLS state
(u, beta) reached there, and runs NLopt's BOBYQA or Nelder-Mead on itself with the
settings :func:`pymer.optimize.minimize` gives the Python ``nlopt`` package (the same
evaluations, the final one at the optimum included), in the fit's coordinates
par = par0 + T z for the second stage. :meth:`GlmmObjective.derivatives` is the
finite-difference gradient and Hessian of ``GeneralizedLinearMixedModel.derivatives``
(the same points in the same order, the same formulas).
"""
import numpy as np
from libc.math cimport isfinite, pow, INFINITY
from libc.string cimport memcpy, memset
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC
from scipy.linalg.cython_blas cimport dgemv
from pymer._core._pirls cimport PIRLS
from pymer._core._nlopt cimport *

cdef extern from "Python.h":
    int PyErr_CheckSignals()
    void PyErr_Clear()

_ALGORITHMS = {"bobyqa": NLOPT_LN_BOBYQA, "nelder_mead": NLOPT_LN_NELDERMEAD,
               "neldermead": NLOPT_LN_NELDERMEAD}
# the optimizers this loop runs (others go through pymer.optimize.minimize)
OPTIMIZERS = frozenset(_ALGORITHMS)

cdef double SIGNAL_EVERY = 0.25      # seconds between checks for Ctrl-C
cdef int _FORCED_STOP = -5, _OUT_OF_MEMORY = -3


cdef inline double _now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + 1e-9 * ts.tv_nsec


cdef class GlmmObjective:
    """The deviance of a GLMM and its warm starts (see the module).

    Parameters
    ----------
    pirls_joint, pirls_u : PIRLS
        The model's PIRLS states: beta inside (nAGQ = 0) and u only (Laplace).
    ntheta : int
    beta_start : array_like
        The fixed effects PIRLS starts from at nAGQ = 0 without a warm start.
    concave : bool
        Whether the log-likelihood is concave in eta (the warm starts predict the mode).
    """
    cdef readonly PIRLS pj, pu
    cdef readonly int nt, p, q
    cdef public bint concave
    cdef double[::1] beta_start, zeros_q, jw_beta, jw_u, uw, uhat, pts
    cdef bint has_jw, has_uw

    def __init__(self, PIRLS pirls_joint not None, PIRLS pirls_u not None, int ntheta, beta_start,
                 bint concave):
        self.pj, self.pu = pirls_joint, pirls_u
        self.nt = ntheta
        self.p = <int> pirls_u.p
        self.q = <int> pirls_u.q
        self.concave = concave
        self.set_beta_start(beta_start)
        self.zeros_q = np.zeros(self.q + 1)
        self.jw_beta = np.zeros(self.p + 1)
        self.jw_u = np.zeros(self.q + 1)
        self.uw = np.zeros(self.q + 1)
        self.uhat = np.zeros(self.q + 1)
        self.pts = np.zeros(self.nt + self.p)
        self.has_jw = self.has_uw = False

    def set_beta_start(self, beta_start):
        """The nAGQ = 0 stage's fixed-effects start (the model's beta_start)."""
        b = np.array(beta_start, dtype=np.float64).ravel()
        if b.shape[0] != self.p:
            raise ValueError(f"beta_start must have length {self.p}")
        self.beta_start = np.concatenate([b, [0.0]])

    # ---- the warm starts, as the model's _joint_warm and _u_warm -------------------

    @property
    def joint_warm(self):
        """(beta, u) of the last nAGQ = 0 mode reached, or None."""
        if not self.has_jw:
            return None
        return np.asarray(self.jw_beta[:self.p]).copy(), np.asarray(self.jw_u[:self.q]).copy()

    @joint_warm.setter
    def joint_warm(self, value):
        self.has_jw = value is not None
        if value is not None:
            np.asarray(self.jw_beta)[:self.p] = np.asarray(value[0], dtype=np.float64)
            np.asarray(self.jw_u)[:self.q] = np.asarray(value[1], dtype=np.float64)

    @property
    def u_warm(self):
        """u of the last Laplace mode reached, or None."""
        return np.asarray(self.uw[:self.q]).copy() if self.has_uw else None

    @u_warm.setter
    def u_warm(self, value):
        self.has_uw = value is not None
        if value is not None:
            np.asarray(self.uw)[:self.q] = np.asarray(value, dtype=np.float64)

    # ---- the objectives ------------------------------------------------------------

    cdef double value0(self, const double *theta) noexcept nogil:
        """objective_nAGQ0(theta)."""
        cdef double v
        if self.concave and self.has_jw:
            v = self.pj.laplace_c(theta, &self.jw_beta[0], &self.jw_u[0], True, True, True)
            if isfinite(v):
                self.keep_joint()
                return v
        v = self.pj.laplace_c(theta, &self.beta_start[0], &self.zeros_q[0], True, True, False)
        if isfinite(v):
            self.keep_joint()
        return v

    cdef void keep_joint(self) noexcept nogil:
        if self.p:
            memcpy(&self.jw_beta[0], &self.pj.beta[0], self.p * sizeof(double))
        if self.q:
            memcpy(&self.jw_u[0], &self.pj.u[0], self.q * sizeof(double))
        self.has_jw = True

    cdef double value1(self, const double *par) noexcept nogil:
        """objective(par, 1): the Laplace deviance at (theta, beta) = par."""
        cdef const double *u0 = &self.uw[0] if self.has_uw else &self.zeros_q[0]
        cdef const double *beta = par + self.nt
        cdef double v, v0, pdev_warm, pdev0
        cdef Py_ssize_t i
        cdef bint nonzero = False
        v = self.pu.laplace_c(par, beta, u0, True, True, self.concave)
        if not self.concave:
            for i in range(self.q):
                if u0[i] != 0.0:
                    nonzero = True
                    break
            if nonzero:
                # _lowest_mode: the lower penalized deviance of the modes from the warm
                # start and from u = 0 (u = 0 on ties)
                pdev_warm = self.pu.pdev if isfinite(v) else INFINITY
                if self.q:
                    memcpy(&self.uhat[0], &self.pu.u[0], self.q * sizeof(double))
                v0 = self.pu.laplace_c(par, beta, &self.zeros_q[0], True, True, False)
                pdev0 = self.pu.pdev if isfinite(v0) else INFINITY
                if not isfinite(pdev_warm) or pdev0 <= pdev_warm + 1e-10 * abs(pdev_warm):
                    v = v0
                else:
                    v = self.pu.laplace_c(par, beta, &self.uhat[0], True, True, False)
        if isfinite(v):
            if self.q:
                memcpy(&self.uw[0], &self.pu.u[0], self.q * sizeof(double))
            self.has_uw = True
        return v

    def objective0(self, theta) -> float:
        """objective_nAGQ0(theta)."""
        cdef double[::1] th = self._vec(theta, self.nt)
        cdef double v
        with nogil:
            v = self.value0(&th[0])
        return v

    def objective1(self, par) -> float:
        """objective(par, 1)."""
        cdef double[::1] x = self._vec(par, self.nt + self.p)
        cdef double v
        with nogil:
            v = self.value1(&x[0])
        return v

    def _vec(self, x, Py_ssize_t k):
        a = np.array(x, dtype=np.float64, copy=True).ravel()
        if a.shape[0] != k:
            raise ValueError(f"expected {k} parameters, got {a.shape[0]}")
        return a

    def derivatives(self, par, double delta=1e-4):
        """``GeneralizedLinearMixedModel.derivatives(par, 1)``: the objective at par, then
        every point of :func:`pymer.numdiff.finite_diff_derivs` (no bounds) from the mode
        at par; the warm start left at that mode. Returns (grad, hess)."""
        cdef double[::1] x = self._vec(par, self.nt + self.p)
        cdef int m = <int> x.shape[0]
        g = np.zeros(m)
        H = np.zeros((m, m))
        cdef double[::1] gv = g
        cdef double[:, ::1] Hv = H
        cdef double[::1] fp = np.zeros(m), fm = np.zeros(m)
        cdef double[::1] y = np.zeros(m)
        cdef int i, j
        cdef double h = delta, f0, a, b
        with nogil:
            self.value1(&x[0])
            if self.q:
                memcpy(&self.uhat[0], &self.pu.u[0], self.q * sizeof(double))
            f0 = self.from_hat(&x[0], &y[0], -1, -1, 0.0)
            for i in range(m):
                fp[i] = self.from_hat(&x[0], &y[0], i, -1, h)
                fm[i] = self.from_hat(&x[0], &y[0], i, -1, -h)
                gv[i] = (fp[i] - fm[i]) / (2 * h)
                Hv[i, i] = (fp[i] - 2 * f0 + fm[i]) / pow(h, 2.0)   # Python's h ** 2
            for i in range(m):
                for j in range(i):
                    a = self.from_hat(&x[0], &y[0], i, j, h)
                    b = self.from_hat(&x[0], &y[0], i, j, -h)
                    Hv[i, j] = (a + b - fp[i] - fm[i] - fp[j] - fm[j] + 2 * f0) / (2 * h * h)
                    Hv[j, i] = Hv[i, j]
            if self.q:
                memcpy(&self.uw[0], &self.uhat[0], self.q * sizeof(double))
            self.has_uw = True
        return g, H

    cdef double from_hat(self, const double *x, double *y, int i, int j, double h) noexcept nogil:
        """value1 at x + h (e_i + e_j) (i, j < 0: none) from the warm start u_hat."""
        cdef int m = self.nt + self.p
        memcpy(y, x, m * sizeof(double))
        if i >= 0:
            y[i] = x[i] + h
        if j >= 0:
            y[j] = x[j] + h
        if self.q:
            memcpy(&self.uw[0], &self.uhat[0], self.q * sizeof(double))
        self.has_uw = True
        return self.value1(y)


cdef double _nlopt_objective(unsigned n, const double *x, double *grad, void *data) noexcept nogil:
    return (<GlmmStage> data).counted(x)


cdef class GlmmStage:
    """One stage of a GLMM fit's objective as an incumbent (see the module): 0, theta with
    beta inside PIRLS (objective_nAGQ0); 1, (theta, beta) at nAGQ = 1."""
    cdef readonly GlmmObjective obj
    cdef readonly int stage
    cdef int m
    cdef PIRLS pir
    cdef readonly double val
    cdef bint has_x
    cdef double[::1] inc_x, inc_u, inc_beta
    # the running optimization (z: the optimizer's coordinates, par = par0 + T z)
    cdef long nevals
    cdef double best_f, next_check
    cdef bint interrupted, transformed
    cdef nlopt_opt running
    cdef double[::1] best_z, par0, T, par

    def __init__(self, GlmmObjective obj not None, int stage):
        if stage not in (0, 1):
            raise ValueError("stage must be 0 (nAGQ = 0) or 1 (Laplace)")
        self.obj = obj
        self.stage = stage
        self.m = obj.nt if stage == 0 else obj.nt + obj.p
        self.pir = obj.pj if stage == 0 else obj.pu
        self.val = INFINITY
        self.has_x = False
        self.inc_x = np.zeros(self.m)
        self.inc_u = np.zeros(obj.q)
        self.inc_beta = np.zeros(obj.p)
        self.best_z = np.zeros(self.m)
        self.par = np.zeros(self.m)
        self.par0 = np.zeros(self.m)
        self.T = np.zeros(self.m * self.m)

    # the incumbent, as _Incumbent's attributes
    @property
    def x(self):
        return np.asarray(self.inc_x).copy() if self.has_x else None

    @property
    def u(self):
        return np.asarray(self.inc_u).copy() if self.has_x else None

    @property
    def beta(self):
        return np.asarray(self.inc_beta).copy() if self.has_x else None

    cdef double raw(self, const double *x) noexcept nogil:
        return self.obj.value0(x) if self.stage == 0 else self.obj.value1(x)

    cdef double tracked(self, const double *x) noexcept nogil:
        cdef double v = self.raw(x)
        if v < self.val:
            self.val = v
            self.has_x = True
            memcpy(&self.inc_x[0], x, self.m * sizeof(double))
            if self.obj.q:
                memcpy(&self.inc_u[0], &self.pir.u[0], self.obj.q * sizeof(double))
            if self.obj.p:
                memcpy(&self.inc_beta[0], &self.pir.beta[0], self.obj.p * sizeof(double))
        return v

    cdef const double *to_par(self, const double *z) noexcept nogil:
        """par0 + T z (z itself without a transform): T z by BLAS's dgemv, as numpy's
        ``T @ z`` computes it (the same sums in the same order), then par0 added."""
        cdef int i, m = self.m, one = 1
        cdef double alpha = 1.0, beta = 0.0
        cdef char tr = b'T'
        if not self.transformed:
            return z
        # T is row-major: column-major T' transposed
        dgemv(&tr, &m, &m, &alpha, &self.T[0], &m, z, &one, &beta, &self.par[0], &one)
        for i in range(m):
            self.par[i] = self.par0[i] + self.par[i]
        return &self.par[0]

    cdef double counted(self, const double *z) noexcept nogil:
        """pymer.optimize.minimize's callback: counted, non-finite as 1e300, best kept."""
        cdef double v
        self.nevals += 1
        v = self.tracked(self.to_par(z))
        if not isfinite(v):
            v = 1e300 if v > 0 or v != v else v
        if v < self.best_f:
            self.best_f = v
            memcpy(&self.best_z[0], z, self.m * sizeof(double))
        if _now() >= self.next_check:
            self.next_check = _now() + SIGNAL_EVERY
            with gil:
                if PyErr_CheckSignals() != 0:
                    PyErr_Clear()
                    self.interrupted = True
            if self.interrupted:
                nlopt_force_stop(self.running)
        return v

    def __call__(self, x) -> float:
        """The stage's objective at x (parameters, not z), kept as the incumbent if best."""
        cdef double[::1] xv = self.obj._vec(x, self.m)
        cdef double v
        with nogil:
            v = self.tracked(&xv[0])
        return v

    def fun(self, x) -> float:
        """The stage's objective at x, not tracked (_Incumbent.fun)."""
        cdef double[::1] xv = self.obj._vec(x, self.m)
        cdef double v
        with nogil:
            v = self.raw(&xv[0])
        return v

    def par_of(self, z):
        """par0 + T z in the coordinates of the last :meth:`minimize` (the same arithmetic
        as its evaluations)."""
        cdef double[::1] zv = self.obj._vec(z, self.m)
        out = np.empty(self.m)
        cdef double[::1] ov = out
        memcpy(&ov[0], self.to_par(&zv[0]), self.m * sizeof(double))
        return out

    def minimize(self, x0, lower, upper=None, *, optimizer="bobyqa", double ftol_abs=1e-8,
                 xtol_abs=1e-8, double ftol_rel=0.0, int maxeval=100000, initial_step=None,
                 par0=None, T=None):
        """:func:`pymer.optimize.minimize` of this stage over z, par = par0 + T z (T None:
        z = par). xtol_abs: one tolerance or one per coordinate. Returns (z, fun, nevals,
        status) as minimize's OptResult has them (roundoff: the best point, status -4;
        fun: the objective at z, evaluated once more, or the best seen when lower)."""
        key = str(optimizer).lower().replace("-", "_")
        if key not in _ALGORITHMS:
            raise ValueError(f"the compiled optimizer runs {sorted(_ALGORITHMS)}, not {optimizer!r}")
        cdef int m = self.m, i
        cdef double[::1] x = np.clip(self.obj._vec(x0, m), np.asarray(lower, dtype=np.float64),
                                     np.inf if upper is None else np.asarray(upper, dtype=np.float64))
        cdef double[::1] lo = self.obj._vec(lower, m)
        cdef double[::1] hi = np.full(m, np.inf) if upper is None else self.obj._vec(upper, m)
        xt = np.asarray(xtol_abs, dtype=np.float64)
        cdef double[::1] xtv = self.obj._vec(xt, m) if xt.ndim else None
        cdef double xts = float(xt) if not xt.ndim else 0.0
        cdef double[::1] st = None if initial_step is None else self.obj._vec(initial_step, m)
        self.transformed = T is not None
        if self.transformed:
            np.asarray(self.par0)[:] = self.obj._vec(par0, m)
            np.asarray(self.T)[:] = np.ascontiguousarray(T, dtype=np.float64).ravel()
        cdef nlopt_algorithm algo = _ALGORITHMS[key]
        cdef nlopt_opt opt
        cdef double minf = 0.0, val
        cdef int status
        with nogil:
            opt = nlopt_create(algo, <unsigned> m)
            if opt == NULL:
                status = _OUT_OF_MEMORY
            else:
                nlopt_set_min_objective(opt, _nlopt_objective, <void *> self)
                nlopt_set_lower_bounds(opt, &lo[0])
                nlopt_set_upper_bounds(opt, &hi[0])
                nlopt_set_ftol_abs(opt, ftol_abs)
                if xtv is None:
                    nlopt_set_xtol_abs1(opt, xts)
                else:
                    nlopt_set_xtol_abs(opt, &xtv[0])
                if ftol_rel != 0.0:
                    nlopt_set_ftol_rel(opt, ftol_rel)
                nlopt_set_maxeval(opt, maxeval)
                if st is not None:
                    nlopt_set_initial_step(opt, &st[0])
                self.nevals = 0
                self.best_f = INFINITY
                memcpy(&self.best_z[0], &x[0], m * sizeof(double))
                self.interrupted = False
                self.running = opt
                self.next_check = _now() + SIGNAL_EVERY
                status = <int> nlopt_optimize(opt, &x[0], &minf)
                self.running = NULL
                nlopt_destroy(opt)
                if status == <int> NLOPT_ROUNDOFF_LIMITED:
                    memcpy(&x[0], &self.best_z[0], m * sizeof(double))
        if self.interrupted:
            status = _FORCED_STOP
        if status < 0 and status != <int> NLOPT_ROUNDOFF_LIMITED:
            from pymer._core._optim import raise_for_status
            raise_for_status(status)
        with nogil:
            val = self.tracked(self.to_par(&x[0]))
            if self.best_f < val:
                memcpy(&x[0], &self.best_z[0], m * sizeof(double))
                val = self.best_f
        return np.asarray(x).copy(), val, int(self.nevals), status
