# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The optimizer loop of a linear mixed model in compiled code, on NLopt's C API.

A :class:`LmmObjective` holds a :class:`pymer._core._pls.PLS` core and minimizes its
profiled criterion over theta without the GIL and without a Python call per evaluation:

* NLopt's BOBYQA (or Nelder-Mead) with the settings :func:`pymer.optimize.minimize`
  gives the Python ``nlopt`` package (lme4's nloptwrap defaults): the same algorithm,
  evaluations and answers, only the callback is C;
* lme4's boundary handling after the fit (:func:`pymer.optimize.check_boundary`:
  elements within boundary_tol of their bound are tried on it; restart_edge);
* the gradient and Hessian at the optimum by the finite differences of
  :func:`pymer.numdiff.finite_diff_derivs` (same steps and formulas), for lme4's
  convergence checks; :func:`convergence_summary` reduces them to the numbers lme4's
  checkConv decides on (_convergence.pyx), whose messages
  :func:`pymer.optimize.check_convergence` writes;
* :meth:`LmmObjective.fit_responses`: the whole fit for many responses of one design
  (``lmer_many``), one response's cross-products swapped in after the other.

The objective is ``model.objective``: the core's criterion less sum(log w), +inf where
the core fails or pwrss <= 0; the optimizer sees +inf as 1e300, as in ``minimize``.
"""
import os

import numpy as np
from libc.math cimport isfinite, pow, INFINITY, NAN
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memcmp
from libc.stdint cimport int64_t
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC
from pymer._core._pls cimport PLS

cdef extern from "Python.h":
    int PyErr_CheckSignals()
    void PyErr_Clear()

from pymer._core._nlopt cimport *

# the fit's outcome codes beyond NLopt's own (negative: NLopt's errors, as nlopt_result)
cdef enum:
    FIT_START_NOT_FINITE = 100
    _OUT_OF_MEMORY = -3
    _FORCED_STOP = -5

# seconds between checks for Ctrl-C (the GIL is taken for the check only)
cdef double SIGNAL_EVERY = 0.25
# the finite differences run on two threads when one evaluation takes this long (seconds)
cdef double PARALLEL_MIN = 0.004


# the cores this process may run on (the evaluations' second thread needs two)
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


cdef inline double _now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + 1e-9 * ts.tv_nsec

START_NOT_FINITE = FIT_START_NOT_FINITE     # fit_responses' code of a response not finite at its start

_ALGORITHMS = {"bobyqa": NLOPT_LN_BOBYQA, "nelder_mead": NLOPT_LN_NELDERMEAD,
               "neldermead": NLOPT_LN_NELDERMEAD}


def nlopt_version():
    """The linked NLopt library's version (major, minor, bugfix)."""
    cdef int a = 0, b = 0, c = 0
    c_nlopt_version(&a, &b, &c)
    return a, b, c


cdef double _nlopt_objective(unsigned n, const double *x, double *grad, void *data) noexcept nogil:
    return (<LmmObjective> data).counted(x)


cdef double _nlopt_record(unsigned n, const double *x, double *grad, void *data) noexcept nogil:
    return (<LmmObjective> data).record(x)


cdef class LmmObjective:
    """The profiled objective of a PLS core (``model.objective``) and its optimizer.

    Parameters
    ----------
    core : PLS
        The model's compiled core (kept; it is moved to every theta evaluated).
    reml : bool
        REML criterion or deviance.
    log_w : float
        sum(log w) of the prior weights (subtracted, as lme4's criterion).
    lower, upper : array_like
        Box bounds of theta (upper None: +inf).
    optimizer : {"bobyqa", "nelder_mead"}
    ftol_abs, xtol_abs, ftol_rel : float
    maxeval : int
        NLopt's stopping rules, as :func:`pymer.optimize.minimize` sets them.
    """
    cdef PLS core
    cdef readonly int m
    cdef bint reml
    cdef double log_w, ftol_abs, xtol_abs, ftol_rel
    cdef int maxeval
    cdef nlopt_algorithm algorithm
    cdef double[::1] lower, upper
    # the running optimization: evaluations and the best point seen
    cdef long nevals
    cdef double best_f, next_check
    cdef bint interrupted
    cdef nlopt_opt running
    cdef double[::1] best_x, work
    # the finite differences' points (m x npoints) and their objectives; seconds an
    # evaluation takes from which they run on two threads
    cdef double[::1] points, values
    cdef public double parallel_min
    # the core's last evaluation: its theta and objective (the fit leaves the core at its
    # optimum: the result reads beta, u and R_X there); an optimizer evaluation's seconds
    cdef double[::1] last_x
    cdef double last_v, eval_seconds
    cdef bint has_last
    # BOBYQA's first points, evaluated before it asks (on two threads): their number in
    # points/values while the optimizer runs (0: none); the seconds of the fit's start
    # evaluation, which decide it; the evaluations the last optimizer run's calls made
    # (nreal: the rest it had answered)
    cdef int nknown, nrecord
    cdef double start_seconds
    cdef readonly long nreal
    # the second thread's objective on a copy of the core, kept through one fit (the
    # first points and the finite differences: one copy)
    cdef object helper
    # threads one evaluation of the core may use while a fit runs (PLS.eval_threads: 2
    # where the core has work to share and this process two cores; 1: never)
    cdef public int eval_threads

    def __init__(self, PLS core not None, bint reml, double log_w, lower, upper=None, *,
                 optimizer="bobyqa", double ftol_abs=1e-8, double xtol_abs=1e-8,
                 double ftol_rel=0.0, maxeval=100000):
        key = str(optimizer).lower().replace("-", "_")
        if key not in _ALGORITHMS:
            raise ValueError(f"the compiled optimizer runs {sorted(_ALGORITHMS)}, not {optimizer!r}")
        self.core = core
        self.reml = reml
        self.log_w = log_w
        self.lower = np.array(lower, dtype=np.float64, copy=True).ravel()
        self.m = <int> self.lower.shape[0]
        if self.m != core.ntheta or self.m == 0:
            raise ValueError(f"{self.m} bounds for a core with {core.ntheta} theta")
        self.upper = (np.full(self.m, np.inf) if upper is None
                      else np.array(upper, dtype=np.float64, copy=True).ravel())
        if self.upper.shape[0] != self.m:
            raise ValueError("lower and upper bounds differ in length")
        self.algorithm = _ALGORITHMS[key]
        self.ftol_abs, self.xtol_abs, self.ftol_rel = ftol_abs, xtol_abs, ftol_rel
        self.maxeval = int(maxeval)
        self.best_x = np.zeros(self.m)
        self.work = np.zeros(4 * self.m)
        # room for the finite differences' m (m + 1) points and BOBYQA's 2 m + 1 first
        # (and a spare row)
        self.points = np.zeros(self.m * (max(self.m * (self.m + 1), 2 * self.m + 1) + 1))
        self.values = np.zeros(max(self.m * (self.m + 1), 2 * self.m + 1))
        self.parallel_min = PARALLEL_MIN
        self.last_x = np.zeros(self.m)
        self.has_last = False
        self.eval_seconds = 0.0
        self.nknown = 0
        self.start_seconds = 0.0
        self.eval_threads = 2

    # ---- the objective ---------------------------------------------------------

    cdef double value(self, const double *x) noexcept nogil:
        """model.objective(theta): +inf where the core fails, pwrss <= 0 or NaN."""
        cdef double v
        self.core.evaluate_nogil(x)
        v = self.core.objective_value(self.reml) - self.log_w
        if not (v > -INFINITY):
            v = INFINITY
        memcpy(&self.last_x[0], x, self.m * sizeof(double))
        self.last_v = v
        self.has_last = True
        return v

    cdef bint at(self, const double *x) noexcept nogil:
        """Whether the core's last evaluation was at x (its state is x's)."""
        return self.has_last and memcmp(&self.last_x[0], x, self.m * sizeof(double)) == 0

    @property
    def last_value(self) -> float:
        """The objective of the core's last evaluation (NaN before any)."""
        return self.last_v if self.has_last else NAN

    def core_at(self, x) -> bool:
        """Whether the core was last evaluated at x: its state (factor, R_X, pwrss) is x's."""
        cdef double[::1] xs = self._theta(x)
        return bool(self.at(&xs[0]))

    cdef double counted(self, const double *x) noexcept nogil:
        """The optimizer's objective: non-finite values as 1e300, the best point kept.
        A point evaluated already (one of BOBYQA's first, :meth:`first_points`, or the
        core's last: the fit's start) is not evaluated again: the same value."""
        cdef int i, m = self.m
        cdef double v
        for i in range(self.nknown):
            if memcmp(x, &self.points[i * m], m * sizeof(double)) == 0:
                v = self.values[i]
                break
        else:
            if self.at(x):
                v = self.last_v
            else:
                v = self.value(x)
                self.nreal += 1
        self.nevals += 1
        if not isfinite(v):
            v = 1e300
        if v < self.best_f:
            self.best_f = v
            memcpy(&self.best_x[0], x, self.m * sizeof(double))
        if _now() >= self.next_check:
            self.next_check = _now() + SIGNAL_EVERY
            if self.signalled():
                nlopt_force_stop(self.running)
        return v

    cdef bint signalled(self) noexcept nogil:
        """Ctrl-C (a pending signal whose handler raises) since the last check: kept in
        ``interrupted`` and raised as KeyboardInterrupt when the compiled call returns."""
        cdef int rc
        with gil:
            rc = PyErr_CheckSignals()
            if rc != 0:
                PyErr_Clear()
                self.interrupted = True
        return rc != 0

    cdef double record(self, const double *x) noexcept nogil:
        """A dry run's objective (:meth:`first_points`): x kept, the run stopped once
        ``nrecord`` points are."""
        if self.nknown < self.nrecord:
            memcpy(&self.points[self.nknown * self.m], x, self.m * sizeof(double))
            self.nknown += 1
        if self.nknown >= self.nrecord:
            nlopt_force_stop(self.running)
        return 0.0

    def __call__(self, theta) -> float:
        """The objective at theta (moves the core there)."""
        cdef double[::1] th = self._theta(theta)
        cdef double v
        with nogil:
            v = self.value(&th[0])
        return v

    def _theta(self, theta):
        th = np.array(theta, dtype=np.float64, copy=True).ravel()
        if th.shape[0] != self.m:
            raise ValueError(f"theta must have length {self.m}, got {th.shape[0]}")
        return th

    # ---- NLopt ---------------------------------------------------------------

    cdef int optimize(self, const double *x0, const double *step, double *x, double *fx,
                      long *nevals) noexcept nogil:
        """:func:`pymer.optimize.minimize` from x0 (step: BOBYQA's initial step or NULL).
        Writes x, its objective and the evaluations; returns NLopt's status (roundoff:
        x is the best point seen)."""
        cdef int i, m = self.m
        cdef nlopt_opt opt
        cdef double minf = 0.0, t0
        cdef int status
        for i in range(m):
            x[i] = x0[i]
            if x[i] < self.lower[i]:
                x[i] = self.lower[i]
            if x[i] > self.upper[i]:
                x[i] = self.upper[i]
        if (self.algorithm == NLOPT_LN_BOBYQA and m >= 2 and self.at(x)
                and self.start_seconds >= self.parallel_min):
            self.first_points(x, step)
        opt = self._create(step, _nlopt_objective)
        if opt == NULL:
            self.nknown = 0
            return _OUT_OF_MEMORY
        self.nevals = 0
        self.nreal = 0
        self.best_f = INFINITY
        self.running = opt
        self.next_check = _now() + SIGNAL_EVERY
        memcpy(&self.best_x[0], x0, m * sizeof(double))
        t0 = _now()
        status = <int> nlopt_optimize(opt, x, &minf)
        self.eval_seconds = (_now() - t0) / (self.nreal if self.nreal > 0 else 1)
        self.running = NULL
        self.nknown = 0
        nlopt_destroy(opt)
        nevals[0] = self.nevals
        if status < 0 and status != <int> NLOPT_ROUNDOFF_LIMITED:
            return status
        if status == <int> NLOPT_ROUNDOFF_LIMITED:
            memcpy(x, &self.best_x[0], m * sizeof(double))
        # the objective at x (the best point when it is: no new evaluation)
        if isfinite(self.best_f) and memcmp(x, &self.best_x[0], m * sizeof(double)) == 0:
            fx[0] = self.best_f
        else:
            fx[0] = self.value(x)
            if self.best_f < fx[0]:
                memcpy(x, &self.best_x[0], m * sizeof(double))
                fx[0] = self.best_f
        return status

    cdef nlopt_opt _create(self, const double *step, nlopt_func f) noexcept nogil:
        """An NLopt optimizer with this objective's algorithm, bounds and stopping rules
        (NULL when out of memory)."""
        cdef nlopt_opt opt = nlopt_create(self.algorithm, <unsigned> self.m)
        if opt == NULL:
            return NULL
        nlopt_set_min_objective(opt, f, <void *> self)
        nlopt_set_lower_bounds(opt, &self.lower[0])
        nlopt_set_upper_bounds(opt, &self.upper[0])
        nlopt_set_ftol_abs(opt, self.ftol_abs)
        nlopt_set_xtol_abs1(opt, self.xtol_abs)
        if self.ftol_rel != 0.0:
            nlopt_set_ftol_rel(opt, self.ftol_rel)
        nlopt_set_maxeval(opt, self.maxeval)
        if step != NULL:
            nlopt_set_initial_step(opt, step)
        return opt

    cdef void first_points(self, const double *x0, const double *step) noexcept nogil:
        """BOBYQA's first 2 m + 1 points from x0 (x0 and a step either way along each
        axis) do not depend on the objective's values: a dry run of the same optimizer
        records them exactly as it will ask for them, and they are evaluated at once, on
        two threads (:meth:`evaluate_points`); :meth:`counted` then answers them from
        ``points``/``values`` (``nknown`` of them). The core's current point (the fit's
        start) is not evaluated again."""
        cdef int i, k = 0, m = self.m, n
        cdef nlopt_opt opt
        cdef double f = 0.0, v0 = self.last_v
        cdef double *x = &self.work[3 * m]
        self.nknown = 0
        self.nrecord = 2 * m + 1
        opt = self._create(step, _nlopt_record)
        if opt == NULL:
            return
        self.running = opt
        memcpy(x, x0, m * sizeof(double))
        nlopt_optimize(opt, x, &f)
        self.running = NULL
        nlopt_destroy(opt)
        # the core's point (the start) last, with its value: the others move the core
        n = self.nknown
        for i in range(n):
            if self.at(&self.points[i * m]):
                memcpy(&self.points[n * m], &self.points[i * m], m * sizeof(double))
            else:
                if k != i:
                    memcpy(&self.points[k * m], &self.points[i * m], m * sizeof(double))
                k += 1
        self.nknown = 0
        if k > 2 and k == n - 1:
            memcpy(&self.points[k * m], &self.points[n * m], m * sizeof(double))
            self.values[k] = v0
            self.eval_seconds = self.start_seconds
            with gil:
                self.evaluate_points(k)
            self.nknown = n

    cdef int boundary(self, double *x, double *fx, double boundary_tol, bint restart,
                      long *nevals, int *status) noexcept nogil:
        """:func:`pymer.optimize.check_boundary` on x (objective fx): elements within
        boundary_tol of their finite lower bound are set on it when that does not raise
        the objective; with restart, the first element on its bound whose nudge (+1e-4)
        lowers the objective restarts the optimizer there (nevals and status become the
        restart's when it ends lower). Returns 1 when restarted and kept, 0, or < 0 on
        an NLopt error."""
        cdef int i, m = self.m, near = 0, st
        cdef double *y = &self.work[0]
        cdef double *xr = &self.work[m]
        cdef double fy, fr
        cdef long nev
        if boundary_tol > 0:
            memcpy(y, x, m * sizeof(double))
            for i in range(m):
                if isfinite(self.lower[i]) and x[i] > self.lower[i] and x[i] - self.lower[i] < boundary_tol:
                    y[i] = self.lower[i]
                    near = 1
            if near:
                fy = self.value(y)
                if fy <= fx[0]:
                    memcpy(x, y, m * sizeof(double))
                    fx[0] = fy
        if not restart:
            return 0
        for i in range(m):
            if not (isfinite(self.lower[i]) and x[i] <= self.lower[i]):
                continue
            memcpy(y, x, m * sizeof(double))
            y[i] = self.lower[i] + 1e-4
            if self.value(y) < fx[0]:
                st = self.optimize(y, NULL, xr, &fr, &nev)
                if st < 0 and st != <int> NLOPT_ROUNDOFF_LIMITED:
                    return st
                if fr < fx[0]:
                    memcpy(x, xr, m * sizeof(double))
                    fx[0] = fr
                    nevals[0] = nev
                    status[0] = st
                    return 1
                return 0
        return 0

    cdef void derivs(self, const double *x, double f0, double delta, double *grad,
                     double *hess) noexcept nogil:
        """:func:`pymer.numdiff.finite_diff_derivs` at x (f0: the objective there):
        central differences, one-sided where the lower bound is within the step. The
        points are listed first, then evaluated (:meth:`evaluate_points`), then the same
        formulas applied to their values."""
        cdef int i, j, k = 0, n = 0, m = self.m
        cdef double h = delta, fpp, v, a, b
        cdef double *fp = &self.work[m]
        cdef double *fm = &self.work[2 * m]
        cdef double *P = &self.points[0]
        cdef double *V = &self.values[0]
        # per i: x + h e_i, then x + 2h e_i (one-sided) or x - h e_i; per pair i > j:
        # x + h (e_i + e_j), and x - h (e_i + e_j) unless one of them is one-sided
        for i in range(m):
            memcpy(&P[n * m], x, m * sizeof(double))
            P[n * m + i] = x[i] + h
            n += 1
            memcpy(&P[n * m], x, m * sizeof(double))
            P[n * m + i] = x[i] + 2 * h if x[i] - h < self.lower[i] else x[i] - h
            n += 1
        for i in range(m):
            for j in range(i):
                memcpy(&P[n * m], x, m * sizeof(double))
                P[n * m + i] = x[i] + h
                P[n * m + j] = x[j] + h
                n += 1
                if not (x[i] - h < self.lower[i] or x[j] - h < self.lower[j]):
                    memcpy(&P[n * m], x, m * sizeof(double))
                    P[n * m + i] = x[i] - h
                    P[n * m + j] = x[j] - h
                    n += 1
        with gil:
            self.evaluate_points(n)
        for i in range(m):
            fp[i] = V[k]
            if x[i] - h < self.lower[i]:
                fpp = V[k + 1]
                fm[i] = NAN
                grad[i] = (-3 * f0 + 4 * fp[i] - fpp) / (2 * h)
                hess[i * m + i] = (f0 - 2 * fp[i] + fpp) / pow(h, 2.0)
            else:
                fm[i] = V[k + 1]
                grad[i] = (fp[i] - fm[i]) / (2 * h)
                hess[i * m + i] = (fp[i] - 2 * f0 + fm[i]) / pow(h, 2.0)
            k += 2
        for i in range(m):
            for j in range(i):
                a = V[k]
                k += 1
                if x[i] - h < self.lower[i] or x[j] - h < self.lower[j]:
                    v = (a - fp[i] - fp[j] + f0) / (h * h)
                else:
                    b = V[k]
                    k += 1
                    v = (a + b - fp[i] - fm[i] - fp[j] - fm[j] + 2 * f0) / (2 * h * h)
                hess[i * m + j] = v
                hess[j * m + i] = v

    cdef void evaluate_points(self, int n):
        """values[i] = the objective at points[i * m:] for i < n, without the GIL. When an
        evaluation takes ``parallel_min`` seconds or more (PARALLEL_MIN unless set: InstEval's
        interaction model takes ~19 ms), the later half runs on a second thread on a copy
        of the core (:meth:`_start_helper`) while this one does the rest: the values are
        the same (each is a function of theta and the cross-products alone). The
        optimizer's evaluations tell (their mean time): then the helper starts at once,
        and this thread's share is one point less (the fit's evaluation at the optimum
        follows here); else the first point is timed."""
        cdef int i, first = 0, mid = n, m = self.m
        cdef double t0 = self.eval_seconds
        cdef double *P = &self.points[0]
        cdef double *V = &self.values[0]
        if n == 0:
            return
        if n > 2 and t0 >= self.parallel_min:
            mid = n // 2
        else:
            with nogil:
                t0 = _now()
                V[0] = self.value(P)
                t0 = _now() - t0
            first = 1
            if n > 2 and t0 >= self.parallel_min:
                mid = 1 + (n - 1) // 2
        helper = None
        if mid < n:
            helper = self._start_helper(mid, n)
            if helper is None:
                mid = n
        # two evaluations side by side: the core's own second thread waits
        self.core.helper_paused = helper is not None
        try:
            with nogil:
                for i in range(first, mid):
                    V[i] = self.value(&P[i * m])
            if helper is not None:
                helper.join()
        finally:
            self.core.helper_paused = False

    cdef object _start_helper(self, int lo, int hi):
        """A thread evaluating points lo..hi - 1 on a copy of the core (None when the copy
        cannot be made: then this thread evaluates them)."""
        import threading
        helper = self.helper
        if helper is None:
            try:
                helper = LmmObjective(self.core.copy(), self.reml, self.log_w,
                                      np.asarray(self.lower), np.asarray(self.upper))
            except MemoryError:
                return None
            self.helper = helper
        t = threading.Thread(target=helper._evaluate, args=(self.points, self.values, lo, hi),
                             daemon=True)
        try:
            t.start()
        except RuntimeError:           # no thread to be had
            return None
        return t

    def _evaluate(self, double[::1] points, double[::1] values, int lo, int hi):
        """values[i] = the objective at points[i * m:] for lo <= i < hi, without the GIL."""
        cdef int i
        with nogil:
            for i in range(lo, hi):
                values[i] = self.value(&points[i * self.m])

    cdef int fit_one(self, const double *x0, const double *step, double boundary_tol,
                     bint restart, bint calc_derivs, double delta, double *x, double *fx,
                     long *nevals, int *status, double *grad, double *hess) noexcept nogil:
        """Start check, optimizer, boundary handling, derivatives (as LinearMixedModel.fit);
        the core is left evaluated at x.
        Returns 0, FIT_START_NOT_FINITE or an NLopt error (< 0)."""
        cdef int st
        cdef double t0 = _now()
        if not isfinite(self.value(x0)):
            return FIT_START_NOT_FINITE
        self.start_seconds = _now() - t0
        st = self._fit_one(x0, step, boundary_tol, restart, calc_derivs, delta, x, fx, nevals,
                           status, grad, hess)
        self.start_seconds = 0.0
        with gil:
            self.helper = None
        return st

    cdef int _fit_one(self, const double *x0, const double *step, double boundary_tol,
                      bint restart, bint calc_derivs, double delta, double *x, double *fx,
                      long *nevals, int *status, double *grad, double *hess) noexcept nogil:
        """:meth:`fit_one` after the start check."""
        cdef int st
        st = self.optimize(x0, step, x, fx, nevals)
        if st < 0 and st != <int> NLOPT_ROUNDOFF_LIMITED:
            return st
        status[0] = st
        st = self.boundary(x, fx, boundary_tol, restart, nevals, status)
        if st < 0:
            return st
        if calc_derivs:
            self.derivs(x, fx[0] if fx[0] < 1e300 else self.value(x), delta, grad, hess)
        if not self.at(x):
            self.value(x)
        return 0

    # ---- Python entry points -------------------------------------------------

    def minimize(self, x0, initial_step=None):
        """:func:`pymer.optimize.minimize` on this objective. Returns (x, fun, nevals,
        status); NLopt's errors are raised as the ``nlopt`` package raises them."""
        cdef double[::1] xs = self._theta(x0)
        cdef double[::1] st = None if initial_step is None else self._theta(initial_step)
        cdef double[::1] x = np.empty(self.m)
        cdef double fx = 0.0
        cdef long nev = 0
        cdef int status
        cdef const double *stp = NULL if st is None else &st[0]
        self.interrupted = False
        with nogil:
            status = self.optimize(&xs[0], stp, &x[0], &fx, &nev)
        raise_for_status(_FORCED_STOP if self.interrupted else status)
        return np.asarray(x), fx, int(nev), status

    def fit(self, x0, initial_step=None, *, double boundary_tol=1e-5, bint restart_edge=True,
            bint calc_derivs=True, double delta=1e-4):
        """The optimization part of ``LinearMixedModel.fit``, all without the GIL.

        Returns (x, fun, nevals, status, grad, hess) (grad and hess None without
        calc_derivs), or None when the objective is not finite at x0.
        """
        cdef double[::1] xs = self._theta(x0)
        cdef double[::1] st = None if initial_step is None else self._theta(initial_step)
        cdef double[::1] x = np.empty(self.m)
        cdef double[::1] g = np.empty(self.m)
        cdef double[::1] H = np.empty(self.m * self.m)
        cdef double fx = 0.0
        cdef long nev = 0
        cdef int status = 0, rc
        cdef const double *stp = NULL if st is None else &st[0]
        self.interrupted = False
        threads = self._threads_on()
        try:
            with nogil:
                rc = self.fit_one(&xs[0], stp, boundary_tol, restart_edge, calc_derivs, delta,
                                  &x[0], &fx, &nev, &status, &g[0], &H[0])
        finally:
            self._threads_off(threads)
        if self.interrupted:
            raise_for_status(_FORCED_STOP)
        if rc == FIT_START_NOT_FINITE:
            return None
        raise_for_status(rc)
        if not calc_derivs:
            return np.asarray(x), fx, int(nev), status, None, None
        return (np.asarray(x), fx, int(nev), status, np.asarray(g),
                np.asarray(H).reshape(self.m, self.m))

    def derivatives(self, x, double f0=NAN, double delta=1e-4):
        """Gradient and Hessian at x (:func:`pymer.numdiff.finite_diff_derivs`)."""
        cdef double[::1] xs = self._theta(x)
        cdef double[::1] g = np.empty(self.m)
        cdef double[::1] H = np.empty(self.m * self.m)
        with nogil:
            if not isfinite(f0):
                f0 = self.value(&xs[0])
            self.derivs(&xs[0], f0, delta, &g[0], &H[0])
        self.helper = None
        return np.asarray(g), np.asarray(H).reshape(self.m, self.m)

    def fit_responses(self, ZtR, XtR, rtr, X0, steps, *, double boundary_tol=1e-5,
                      bint restart_edge=True, bint calc_derivs=True, double delta=1e-4):
        """Fit every response of one design in turn (``lmer_many``), without the GIL.

        Response j replaces the core's cross-products with the response (the last column
        of Z'W[X y] and row/column of [X y]'W[X y]) by ``ZtR[:, j]``, ``XtR[:, j]`` and
        ``rtr[j]``, then is fitted as :meth:`fit` from ``X0[j]`` (initial step ``steps[j]``,
        a NaN row for NLopt's default) and evaluated at its optimum.

        Returns a dict of arrays, one row per response: ``code`` (0, FIT_START_NOT_FINITE
        or an NLopt error), ``theta``, ``fun``, ``nevals``, ``status``, ``grad``, ``hess``,
        ``objective`` (at theta), ``beta`` (the fixed effects of the residualized
        response), ``pwrss``, ``RX`` (p x p, upper triangle).
        """
        cdef double[::1, :] Zr = np.asfortranarray(ZtR, dtype=np.float64)
        cdef double[::1, :] Xr = np.asfortranarray(XtR, dtype=np.float64)
        cdef double[::1] rr = np.ascontiguousarray(rtr, dtype=np.float64)
        cdef double[:, ::1] x0 = np.ascontiguousarray(X0, dtype=np.float64)
        cdef double[:, ::1] s0 = np.ascontiguousarray(steps, dtype=np.float64)
        cdef Py_ssize_t R = rr.shape[0], q = self.core.q, p = self.core.p, m = self.m
        if Zr.shape[0] != q or Zr.shape[1] != R or Xr.shape[0] != p or Xr.shape[1] != R \
                or x0.shape[0] != R or x0.shape[1] != m or s0.shape[0] != R or s0.shape[1] != m:
            raise ValueError("fit_responses: cross-products and starts do not match the core")
        out = {"code": np.zeros(R, dtype=np.intc), "theta": np.zeros((R, m)), "fun": np.zeros(R),
               "nevals": np.zeros(R, dtype=np.int64), "status": np.zeros(R, dtype=np.intc),
               "grad": np.full((R, m), np.nan), "hess": np.full((R, m, m), np.nan),
               "objective": np.full(R, np.nan), "beta": np.full((R, p), np.nan),
               "pwrss": np.full(R, np.nan), "RX": np.full((R, p, p), np.nan)}
        cdef int[::1] code = out["code"]
        cdef int[::1] status = out["status"]
        cdef double[:, ::1] th = out["theta"]
        cdef double[::1] fun = out["fun"]
        cdef int64_t[::1] nev = out["nevals"]
        cdef double[:, ::1] g = out["grad"]
        cdef double[:, :, ::1] H = out["hess"]
        cdef double[::1] obj = out["objective"]
        cdef double[:, ::1] beta = out["beta"]
        cdef double[::1] pw = out["pwrss"]
        cdef double[:, :, ::1] RX = out["RX"]
        self.interrupted = False
        threads = self._threads_on()
        try:
            self._fit_responses(Zr, Xr, rr, x0, s0, boundary_tol, restart_edge, calc_derivs,
                                delta, code, status, th, fun, nev, g, H, obj, beta, pw, RX)
        finally:
            self._threads_off(threads)
        if self.interrupted:
            raise_for_status(_FORCED_STOP)
        return out

    cdef void _fit_responses(self, double[::1, :] Zr, double[::1, :] Xr, double[::1] rr,
                             double[:, ::1] x0, double[:, ::1] s0, double boundary_tol,
                             bint restart_edge, bint calc_derivs, double delta, int[::1] code,
                             int[::1] status, double[:, ::1] th, double[::1] fun,
                             int64_t[::1] nev, double[:, ::1] g, double[:, :, ::1] H,
                             double[::1] obj, double[:, ::1] beta, double[::1] pw,
                             double[:, :, ::1] RX):
        """:meth:`fit_responses`' loop, without the GIL."""
        cdef Py_ssize_t R = rr.shape[0], q = self.core.q, p = self.core.p, j, i, k
        cdef long nv = 0
        cdef int st = 0
        cdef bint has_step
        with nogil:
            for j in range(R):
                if self.interrupted:
                    break
                for i in range(q):
                    self.core.ZtXy[i, p] = Zr[i, j]
                for i in range(p):
                    self.core.XytXy[i, p] = Xr[i, j]
                    self.core.XytXy[p, i] = Xr[i, j]
                self.core.XytXy[p, p] = rr[j]
                has_step = isfinite(s0[j, 0])
                code[j] = self.fit_one(&x0[j, 0], &s0[j, 0] if has_step else NULL, boundary_tol,
                                       restart_edge, calc_derivs, delta, &th[j, 0], &fun[j],
                                       &nv, &st, &g[j, 0], &H[j, 0, 0])
                nev[j] = nv
                status[j] = st
                if code[j] != 0:
                    continue
                obj[j] = self.last_v if self.at(&th[j, 0]) else self.value(&th[j, 0])
                self.core.solve_beta_nogil(&beta[j, 0])
                pw[j] = self.core.pwrss
                for i in range(p):
                    for k in range(p):
                        RX[j, i, k] = self.core.U[i, k] if k >= i else 0.0

    def _threads_on(self):
        """Let the core's evaluations use ``eval_threads`` threads for a fit (when this
        process has that many cores; the core starts its helper only where it has work to
        share); returns the count to restore (:meth:`_threads_off`: the helper stops)."""
        prev = self.core.eval_threads
        if self.eval_threads > prev and _CORES >= self.eval_threads:
            self.core.eval_threads = self.eval_threads
        return prev

    def _threads_off(self, prev):
        if self.core.eval_threads != prev:
            self.core.eval_threads = prev


def raise_for_status(int status):
    """NLopt's errors (status < 0 but roundoff) as the ``nlopt`` Python package raises them."""
    if status >= 0 or status == <int> NLOPT_ROUNDOFF_LIMITED:
        return
    if status == -2:
        raise ValueError("nlopt invalid argument")
    if status == -3:
        raise MemoryError("nlopt: out of memory")
    if status == -5:
        raise KeyboardInterrupt("the compiled optimizer was interrupted")
    raise RuntimeError(f"nlopt failure (status {status})")
