"""The optimizer loop and lme4's post-fit convergence checks.

BOBYQA (NLopt) with lme4's nloptwrap defaults is the default; Nelder-Mead is
selectable. The checks follow lme4's `checkConv` as documented in
?lmerControl: the gradient and Hessian of the objective at the optimum by
central finite differences, a scaled-gradient tolerance (2e-3), and the
Hessian's eigenvalues.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ._core._convergence import CONV_NO_FREE, CONV_NOT_FINITE, CONV_OK, convergence_summary
from .errors import ConvergenceWarning, SingularFitWarning, warn  # noqa: F401  (ConvergenceWarning, SingularFitWarning: their home before errors.py)
from .numdiff import finite_diff_derivs


@dataclass
class OptResult:
    x: np.ndarray
    fun: float
    nevals: int
    optimizer: str
    status: int
    messages: list = field(default_factory=list)


_OPTIMIZERS = {"bobyqa": "LN_BOBYQA", "nelder_mead": "LN_NELDERMEAD", "neldermead": "LN_NELDERMEAD"}
# the optimizers the compiled loop (pymer._core._optim.LmmObjective) runs on NLopt's C API
COMPILED_OPTIMIZERS = frozenset(_OPTIMIZERS)


def optimizer_key(optimizer) -> str:
    """An optimizer's name as OptResult records it ("Nelder-Mead" -> "nelder_mead")."""
    return str(optimizer).lower().replace("-", "_")


def status_messages(status: int, maxeval: int) -> list:
    """lme4's messages for NLopt's return code (roundoff, the evaluation limit)."""
    if status == -4:
        return ["optimizer stopped: roundoff limited"]
    if status == 5:
        return [f"convergence code 5 from nloptwrap: NLOPT_MAXEVAL_REACHED: Optimization stopped "
                f"because maxeval ({maxeval}) was reached"]
    return []


def minimize(fun, x0, lower, upper=None, *, optimizer="bobyqa", ftol_abs=1e-8, xtol_abs=1e-8,
             ftol_rel=0.0, maxeval=100000, initial_step=None) -> OptResult:
    """Minimize `fun` over a box with NLopt.

    Parameters
    ----------
    fun : callable
        Objective of a 1-d float array.
    x0, lower, upper : array_like
        Start and bounds (``-inf``/``inf`` for none).
    optimizer : {"bobyqa", "nelder_mead", "lbfgsb"}
        "lbfgsb" is SciPy's L-BFGS-B on finite-difference gradients.
    """
    import nlopt

    key = optimizer_key(optimizer)
    if key not in _OPTIMIZERS and key not in ("lbfgsb", "l_bfgs_b"):
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of 'bobyqa', 'nelder_mead', 'lbfgsb'")
    x0 = np.asarray(x0, dtype=np.float64)
    m = x0.shape[0]
    if m == 0:
        return OptResult(x0.copy(), float(fun(x0)), 1, key, 0)
    if key in ("lbfgsb", "l_bfgs_b"):
        return _lbfgsb(fun, x0, lower, upper, maxeval)
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.full(m, np.inf) if upper is None else np.asarray(upper, dtype=np.float64)
    count = [0]
    best = [np.inf, x0.copy()]

    def f(x, grad):
        count[0] += 1
        v = float(fun(x))
        if not math.isfinite(v):
            v = 1e300 if v > 0 or math.isnan(v) else v
        if v < best[0]:
            best[0] = v
            best[1] = x.copy()
        return v

    algo = getattr(nlopt, _OPTIMIZERS[key])
    opt = nlopt.opt(algo, m)
    opt.set_min_objective(f)
    opt.set_lower_bounds(lower)
    opt.set_upper_bounds(upper)
    opt.set_ftol_abs(ftol_abs)
    opt.set_xtol_abs(xtol_abs)
    if ftol_rel:
        opt.set_ftol_rel(ftol_rel)
    opt.set_maxeval(int(maxeval))
    if initial_step is not None:
        opt.set_initial_step(initial_step)
    x0c = np.clip(x0, lower, upper)
    try:
        x = opt.optimize(x0c)
        status = opt.last_optimize_result()
    except nlopt.RoundoffLimited:
        x, status = best[1], -4
    messages = status_messages(int(status), maxeval)
    x = np.asarray(x, dtype=np.float64)
    val = float(fun(x))
    if best[0] < val:
        x, val = best[1], best[0]
    return OptResult(x, val, count[0], key, int(status), messages)


def _lbfgsb(fun, x0, lower, upper, maxeval) -> OptResult:
    """SciPy's L-BFGS-B within the bounds (gradients by finite differences)."""
    from scipy.optimize import minimize as sp_minimize

    m = x0.shape[0]
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.full(m, np.inf) if upper is None else np.asarray(upper, dtype=np.float64)
    bounds = [(lo if np.isfinite(lo) else None, hi if np.isfinite(hi) else None) for lo, hi in zip(lower, upper)]

    def f(x):
        v = float(fun(x))
        return v if math.isfinite(v) else 1e300

    r = sp_minimize(f, np.clip(x0, lower, upper), method="L-BFGS-B", bounds=bounds,
                    options={"maxfun": int(maxeval), "ftol": 1e-12, "gtol": 1e-8})
    messages = [] if r.success else [f"convergence code {r.status} from L-BFGS-B: {r.message}"]
    x = np.asarray(r.x, dtype=np.float64)
    return OptResult(x, float(fun(x)), int(r.nfev), "lbfgsb", int(r.status), messages)


def check_boundary(fun, x, fx, lower, *, boundary_tol=1e-5, restart=None):
    """lme4's boundary handling after the fit (?lmerControl boundary.tol, restart_edge).

    Elements within `boundary_tol` of their (finite) lower bound are set on it when that
    does not raise the objective. With `restart` (a function x0 -> OptResult), elements
    on their bound are nudged off it; where that lowers the objective the optimizer is
    restarted from there. Returns (x, fx, restarted OptResult or None).
    """
    x = np.array(x, dtype=np.float64, copy=True)
    lower = np.asarray(lower, dtype=np.float64)
    bounded = np.isfinite(lower)
    if boundary_tol > 0:
        near = bounded & (x > lower) & (x - lower < boundary_tol)
        if near.any():
            y = x.copy()
            y[near] = lower[near]
            fy = float(fun(y))
            if fy <= fx:
                x, fx = y, fy
    rerun = None
    if restart is not None:
        on = np.flatnonzero(bounded & (x <= lower))
        for i in on:
            y = x.copy()
            y[i] = lower[i] + 1e-4
            if float(fun(y)) < fx:
                r = restart(y)
                if r.fun < fx:
                    x, fx, rerun = np.asarray(r.x, dtype=np.float64), float(r.fun), r
                break
    return x, fx, rerun


def check_convergence(fun, x, lower, *, tol_grad=2e-3, tol_hess=1e-6, on_boundary=None, derivs=None):
    """lme4's post-fit checks. Returns (messages, grad, hess).

    Parameters on their boundary are left out of the checks (a gradient there
    is expected, as in a singular fit). `derivs` = (grad, hess) already
    computed at x skips the finite differences.
    """
    x = np.asarray(x, dtype=np.float64)
    lower = np.asarray(lower, dtype=np.float64)
    if on_boundary is None:
        on_boundary = x <= lower
    grad, hess = finite_diff_derivs(fun, x, lower) if derivs is None else derivs
    free = ~np.asarray(on_boundary)
    code, gmax, comp, nneg, ev_min, ev_max = convergence_summary(grad, hess, free)
    if code == CONV_NO_FREE:
        return [], grad, hess
    if code == CONV_NOT_FINITE:
        return ["Model failed to converge: non-finite gradient or Hessian at the optimum"], grad, hess
    return (_conv_text(code == CONV_OK, np.float64(gmax), comp, nneg, np.float64(ev_min),
                       np.float64(ev_max), tol_grad, tol_hess), grad, hess)


def check_convergence_many(x, lower, grads, hessians, *, tol_grad=2e-3, tol_hess=1e-6) -> list:
    """:func:`check_convergence` for many fits at once (``lmer_many``): rows of x and
    grads, hessians (R, m, m). Returns one list of messages per fit.

    The fits are grouped by which parameters are on their bound; each group's
    Cholesky factors, scaled gradients and eigenvalues are computed together (the
    same LAPACK calls per matrix), a group with a non-finite or not positive definite
    Hessian one fit at a time.
    """
    x = np.asarray(x, dtype=np.float64)
    lower = np.asarray(lower, dtype=np.float64)
    on = x <= lower
    out = [None] * x.shape[0]
    groups: dict = {}
    for j, row in enumerate(on):
        groups.setdefault(row.tobytes(), []).append(j)
    for js in groups.values():
        free = ~on[js[0]]
        js = np.asarray(js)
        if not free.any():
            for j in js:
                out[j] = []
            continue
        g = grads[js][:, free]
        H = hessians[js][:, free][:, :, free]
        try:
            if not (np.all(np.isfinite(g)) and np.all(np.isfinite(H))):
                raise np.linalg.LinAlgError
            U = np.swapaxes(np.linalg.cholesky(H), 1, 2)
            scgrad = np.linalg.solve(U, g[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            for j in js:
                out[j] = check_convergence(None, x[j], lower, tol_grad=tol_grad, tol_hess=tol_hess,
                                           derivs=(grads[j], hessians[j]))[0]
            continue
        ev = np.linalg.eigvalsh(H)
        for i, j in enumerate(js):
            out[j] = _conv_messages(g[i], scgrad[i], ev[i], free, tol_grad, tol_hess)
    return out


def _conv_messages(g, scgrad, ev, free, tol_grad, tol_hess) -> list:
    """lme4's checkConv messages from the free parameters' gradient g, the scaled gradient
    (None: the Hessian is not positive definite) and the Hessian's eigenvalues ev."""
    if scgrad is None:
        return _conv_text(False, np.nan, 0, int(np.sum(ev < 0)), ev.min(), ev.max(), tol_grad, tol_hess)
    mingrad = np.minimum(np.abs(scgrad), np.abs(g))
    k = int(np.argmax(mingrad))
    comp = int(np.flatnonzero(free)[k]) + 1
    return _conv_text(True, mingrad[k], comp, 0, ev.min(), ev.max(), tol_grad, tol_hess)


def _conv_text(posdef, gmax, comp, nneg, ev_min, ev_max, tol_grad, tol_hess) -> list:
    """lme4's checkConv messages from the numbers it decides on: whether the Hessian is
    positive definite (else no scaled gradient, and its number of negative eigenvalues),
    the largest min(|scaled gradient|, |gradient|) and its component (1-based), and the
    Hessian's smallest and largest eigenvalues."""
    msgs = []
    if not posdef:
        msgs.append("unable to evaluate scaled gradient")
        if nneg:
            msgs.append(f"Model failed to converge: degenerate  Hessian with {nneg} negative eigenvalues")
        return msgs
    if gmax > tol_grad:
        msgs.append(f"Model failed to converge with max|grad| = {_g(gmax)} (tol = {_g(tol_grad)}, component {comp})")
    # lme4's checkConv on the Hessian's eigenvalues: numerically singular (smallest below
    # tol), else a very large eigenvalue (above 1/tol) and/or a large ratio (min/max < tol)
    if ev_min < tol_hess:
        msgs.append(" Hessian is numerically singular: parameters are not uniquely determined")
    else:
        if ev_max > 1.0 / tol_hess:
            msgs.append("Model is nearly unidentifiable: very large eigenvalue\n - Rescale variables?")
        if ev_min / ev_max < tol_hess:
            msgs.append("Model is nearly unidentifiable: large eigenvalue ratio\n - Rescale variables?")
    return msgs


def _g(v: float) -> str:
    """R's default %g-like print of a number (up to 6 significant digits)."""
    return f"{v:.6g}"


def warn_all(messages, category=ConvergenceWarning):
    for m in messages:
        warn(m, category)
