"""The fit of a GLMM (``GeneralizedLinearMixedModel.fit``): lme4's two stages, then the
boundary, the convergence checks and the state left at the optimum.

Stage 1 (lme4's nAGQ = 0) optimizes theta with beta inside PIRLS; stage 2 (theta, beta)
at the Laplace deviance, in coordinates par = par0 + T z (:func:`beta_transform`). The
deviance is evaluated by a :class:`pymer._core._optim_glmm.GlmmObjective` (NLopt's loop,
the evaluations and the finite differences compiled) where the model's PIRLS states are
compiled ones, nAGQ <= 1 and both stages' optimizers are BOBYQA or Nelder-Mead; else by
the model's own ``objective_nAGQ0`` / ``objective`` through :func:`pymer.optimize.minimize`
(:class:`PythonObjective`). Both make the same evaluations from the same warm starts.
"""
from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ._core._optim_glmm import OPTIMIZERS, GlmmObjective, GlmmStage
from ._core._pirls import PIRLS
from .optimize import OptResult, check_boundary, check_convergence, minimize, optimizer_key, status_messages
from .validate import check_control, filter_conv_messages

__all__ = ["Incumbent", "PythonObjective", "objective_of", "fit_stages", "beta_transform", "restore",
           "settle", "fit_control", "CONCAVE_LINKS"]

# (family, link) whose log-likelihood is concave in eta: canonical links, and the log-
# concave binomial links and log links for counts and Gamma
CONCAVE_LINKS = {("binomial", "logit"), ("binomial", "probit"), ("binomial", "cloglog"),
                 ("poisson", "log"), ("negative.binomial", "log"), ("Gamma", "log"),
                 ("Gamma", "inverse"), ("inverse.gaussian", "1/mu^2"), ("gaussian", "identity")}

_TOLERANCES = {"xtol_abs", "ftol_abs", "ftol_rel"}


class Incumbent:
    """An objective that remembers its best evaluation and the PIRLS state (beta, u)
    reached there, so the fit can come back to that state."""

    def __init__(self, fun: Any, pirls: Any) -> None:
        self.fun = fun
        self.pirls = pirls
        self.val = np.inf
        self.x: np.ndarray | None = None
        self.u: np.ndarray | None = None
        self.beta: np.ndarray | None = None

    def __call__(self, x: np.ndarray) -> float:
        v = float(self.fun(x))
        if v < self.val:
            self.val = v
            self.x = np.array(x, dtype=np.float64, copy=True)
            self.u = self.pirls.u_vec
            self.beta = self.pirls.beta_vec
        return v


class PythonObjective:
    """The model's own deviance (any nAGQ, any PIRLS state), as GlmmObjective's interface:
    the warm starts are the model's ``_joint_warm`` and ``_u_warm``."""

    def __init__(self, model: Any, nAGQ: int) -> None:
        self.model, self.nAGQ = model, nAGQ

    @property
    def joint_warm(self) -> Any:
        return self.model._joint_warm

    @joint_warm.setter
    def joint_warm(self, value: Any) -> None:
        self.model._joint_warm = value

    @property
    def u_warm(self) -> Any:
        return self.model._u_warm

    @u_warm.setter
    def u_warm(self, value: Any) -> None:
        self.model._u_warm = value

    def stage(self, which: int) -> Incumbent:
        if which == 0:
            return Incumbent(self.model.objective_nAGQ0, self.model.pirls_joint)
        return Incumbent(lambda x: self.model.objective(x, self.nAGQ), self.model.pirls_u)

    def derivatives(self, par: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.model.derivatives(par, self.nAGQ)

    def sync(self) -> None:
        """Nothing to do: the warm starts are the model's."""


class _Compiled:
    """A GlmmObjective as the fit uses it; :meth:`sync` leaves its warm starts on the model."""

    def __init__(self, model: Any, obj: GlmmObjective) -> None:
        self.model, self.obj = model, obj

    def __getattr__(self, name: str) -> Any:
        return getattr(self.obj, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("joint_warm", "u_warm"):
            setattr(self.obj, name, value)
        else:
            object.__setattr__(self, name, value)

    def stage(self, which: int) -> GlmmStage:
        return GlmmStage(self.obj, which)

    def sync(self) -> None:
        self.model._joint_warm = self.obj.joint_warm
        self.model._u_warm = self.obj.u_warm


def objective_of(model: Any, nAGQ: int, stages: tuple) -> Any:
    """The deviance the fit evaluates: compiled where it can be (see the module)."""
    pj, pu = getattr(model, "pirls_joint", None), getattr(model, "pirls_u", None)
    if (nAGQ > 1 or not isinstance(pj, PIRLS) or not isinstance(pu, PIRLS)
            or any(optimizer_key(s) not in OPTIMIZERS for s in stages)):
        return PythonObjective(model, nAGQ)
    obj = model.__dict__.get("_glmm_objective")
    if obj is None or obj.pj is not pj or obj.pu is not pu:
        obj = GlmmObjective(pj, pu, model.re.ntheta, model.beta_start, True)
        model.__dict__["_glmm_objective"] = obj
    fam = model.family
    obj.concave = (fam.name, fam.link) in CONCAVE_LINKS
    obj.set_beta_start(model.beta_start)
    obj.joint_warm, obj.u_warm = model._joint_warm, model._u_warm
    return _Compiled(model, obj)


def run_minimize(fun: Any, x0: np.ndarray, lower: np.ndarray, *, optimizer: str, ftol_abs: float,
                 xtol_abs: Any, ftol_rel: float = 0.0, maxeval: int = 100000,
                 initial_step: np.ndarray | None = None, par0: np.ndarray | None = None,
                 T: np.ndarray | None = None) -> OptResult:
    """:func:`pymer.optimize.minimize` of a stage over z, par = par0 + T z (T None: z = par);
    the result's x in z."""
    if isinstance(fun, GlmmStage):
        z, val, nevals, status = fun.minimize(x0, lower, optimizer=optimizer, ftol_abs=ftol_abs,
                                              xtol_abs=xtol_abs, ftol_rel=ftol_rel, maxeval=maxeval,
                                              initial_step=initial_step, par0=par0, T=T)
        return OptResult(z, val, nevals, optimizer_key(optimizer), status, status_messages(status, maxeval))
    f = fun if T is None else (lambda z: fun(par0 + T @ z))
    return minimize(f, x0, lower, optimizer=optimizer, ftol_abs=ftol_abs, xtol_abs=xtol_abs,
                    ftol_rel=ftol_rel, maxeval=maxeval, initial_step=initial_step)


def _par_of(fun: Any, z: np.ndarray, par0: np.ndarray, T: np.ndarray) -> np.ndarray:
    return fun.par_of(z) if isinstance(fun, GlmmStage) else par0 + T @ z


def fit_stages(model: Any, ev: Any, nAGQ: int, stages: tuple, control: dict, th0: np.ndarray,
               check_conv: bool, calc_derivs: bool) -> tuple:
    """Both stages, the boundary, the checks and the settled state (see the module).
    Returns (par, opt, messages, hess)."""
    nt, p = model.re.ntheta, model.p
    lower_t = model.re.lower_bounds()
    ev.joint_warm = ev.u_warm = None
    best0 = ev.stage(0)
    if nAGQ == 0 or control["nAGQ0initStep"]:
        opt0 = run_minimize(best0, th0, lower_t, optimizer=stages[0], ftol_abs=control.get("ftol_abs", 1e-8),
                            xtol_abs=control.get("xtol_abs", 1e-8), maxeval=control["maxeval"])
        opt0.x, opt0.fun, _ = check_boundary(best0, opt0.x, opt0.fun, lower_t, boundary_tol=control["boundary_tol"])
    else:
        # no nAGQ = 0 stage (lme4's nAGQ0initStep = FALSE): from the start theta and the
        # GLM's (or start's) fixed effects, with PIRLS in u from 0
        opt0 = OptResult(np.asarray(th0, dtype=float), np.nan, 0, stages[0], 0)
    messages = list(opt0.messages)
    if nAGQ == 0:
        fun, par, lower, opt, best = best0, opt0.x, lower_t, opt0, best0
    else:
        restore(model, ev, best0, opt0.x, 0)
        beta = model.pirls_joint.beta_vec
        ev.u_warm = model.pirls_joint.u_vec
        fun = best = ev.stage(1)
        par0 = np.concatenate([opt0.x, beta])
        lower = np.concatenate([lower_t, np.full(p, -np.inf)])
        opt = optimize_joint(model, fun, par0, lower, beta_transform(model), stages[1], control)
        messages += opt.messages
        par = opt.x
    # lme4's boundary.tol: theta elements this close to 0 are tried at 0
    par, opt.fun, _ = check_boundary(fun, par, opt.fun, lower, boundary_tol=control["boundary_tol"])
    opt.x = par
    hess = None
    tols = {"tol_grad": control["check_conv_grad"]["tol"], "tol_hess": control["check_conv_hess"]["tol"]}
    if nAGQ > 0 and calc_derivs:
        grad, hess = ev.derivatives(par)
        if check_conv:
            conv = check_convergence(fun, par, lower, derivs=(grad, hess), **tols)[0]
            if conv and _gradient_failed(conv) and not _TOLERANCES & control.keys():
                # a second optimizer run from the best point, in the coordinates the
                # Hessian there gives (BOBYQA restarts its trust region and model);
                # kept only if it lowers the deviance. Not where the caller set the
                # optimizer's tolerances: those stop it where asked.
                again = optimize_joint(model, fun, par, lower, _hessian_transform(hess, nt), stages[1], control)
                if again.fun < opt.fun - 1e-10 * abs(opt.fun):
                    par, opt = again.x, again
                    grad, hess = ev.derivatives(par)
                    conv = check_convergence(fun, par, lower, derivs=(grad, hess), **tols)[0]
            # Where the check fails, the optimizer stopped short (BOBYQA's step tolerance
            # on parameters of very different scales): Newton steps on the derivatives
            # the check computed finish the job; kept only if the deviance decreases.
            for _ in range(2):
                if not conv:
                    break
                polished = _newton_step(fun, par, lower, grad, hess, opt.fun)
                if polished is None:
                    break
                par, opt.fun = polished
                opt.x = par
                grad, hess = ev.derivatives(par)
                conv = check_convergence(fun, par, lower, derivs=(grad, hess), **tols)[0]
            messages += filter_conv_messages(conv, control)
    opt.fun, failed = settle(model, ev, best, par, opt.fun, nAGQ)
    messages += failed
    ev.sync()
    return par, opt, messages, hess


def beta_transform(model: Any) -> np.ndarray:
    """beta = beta0 + R_X^-1 z: fixed effects in units of their (nAGQ = 0) standard
    errors and decorrelated, so that one trust region suits them all (predictors
    scaled by 1e4, or far from 0, make R_X's columns differ by orders of magnitude)."""
    p, nt = model.p, model.re.ntheta
    M = np.eye(nt + p)
    if not p:
        return M
    RX = np.asarray(model.core_joint.RX, dtype=np.float64)
    T = None
    with np.errstate(all="ignore"):
        try:
            T = np.linalg.solve(RX, M[nt:, nt:])
        except np.linalg.LinAlgError:
            pass
        if T is not None and np.isfinite(T).all() and np.abs(T).max() != 0:
            M[nt:, nt:] = T
    return M


# the last model control checked by fit_control: (the control, a copy of it, the checked one)
_CHECKED_CONTROL: tuple = (None, None, None)


def fit_control(model: Any, control: dict | None) -> dict:
    """check_control of the fit's control (default: the model's), the model's checked once
    while it is the same, unchanged dict (a bootstrap's refits share it)."""
    global _CHECKED_CONTROL
    if control is not None:
        return check_control(control, fun="glmer")
    src = model.control
    got = _CHECKED_CONTROL
    if got[2] is not None and got[0] is src and got[1] == src:
        return got[2]
    out = check_control(src, fun="glmer")
    _CHECKED_CONTROL = (src, copy.deepcopy(src), out)
    return out


def optimize_joint(model: Any, fun: Any, par0: np.ndarray, lower: np.ndarray, T: np.ndarray,
                   optimizer: str, control: dict) -> OptResult:
    """Minimize fun over par = par0 + T z from z = 0, T = blockdiag(I, B): theta as it
    is (its bounds stay bounds on z), beta through B. First steps as lme4's second
    stage takes them: 0.02 in theta, a fifth of a unit in z."""
    nt, p = model.re.ntheta, model.p
    par0 = np.asarray(par0, dtype=np.float64)
    lower_z = np.concatenate([lower[:nt] - par0[:nt], np.full(p, -np.inf)])
    step = np.concatenate([np.full(nt, 0.02), np.full(p, 0.2)])
    # stop on the step size only: in a flat, correlated (theta, beta) valley BOBYQA
    # makes steps that change the deviance by < 1e-10 long before the optimum
    # (VerbAgg: ftol_abs = 1e-8 or 1e-10 stopped it at a scaled gradient of 6e-3).
    # By default 1e-6 in z (standard errors); an xtol_abs the caller gives is in the
    # parameters' own units, as NLopt's
    xtol: Any = 1e-6
    if "xtol_abs" in control:
        reach = np.max(np.abs(T), axis=0)
        xtol = float(control["xtol_abs"]) / np.where(reach > 0, reach, 1.0)
    opt = run_minimize(fun, np.zeros(nt + p), lower_z, optimizer=optimizer,
                       ftol_abs=control.get("ftol_abs", 0.0), xtol_abs=xtol,
                       ftol_rel=control.get("ftol_rel", 0.0), maxeval=control.get("maxeval", 100000),
                       initial_step=step, par0=par0, T=T)
    opt.x = _par_of(fun, opt.x, par0, T)
    opt.x[:nt] = np.maximum(opt.x[:nt], lower[:nt])
    return opt


def restore(model: Any, ev: Any, best: Any, par: np.ndarray, nAGQ: int) -> float:
    """PIRLS at par from the state (beta, u) the optimizer's best evaluation reached
    there (not from wherever the last evaluation left it); the deviance."""
    nt, q = model.re.ntheta, model.re.q
    par = np.asarray(par, dtype=np.float64)
    use = best.x is not None and np.array_equal(best.x, par)
    if nAGQ == 0:
        pj = model.pirls_joint
        beta0 = best.beta if use else model.beta_start
        u0 = best.u if use else np.zeros(q)
        val = pj.laplace(par, beta0, u0)
        if np.isfinite(val):
            ev.joint_warm = (pj.beta_vec, pj.u_vec)
        return val
    u0 = best.u if use else ev.u_warm
    u0 = np.zeros(q) if u0 is None else u0
    if nAGQ == 1:
        val = model.pirls_u.laplace(par[:nt], par[nt:], u0)
    else:
        nodes, weights = gh_rule(nAGQ)
        val = model.pirls_u.agq(par[:nt], par[nt:], nodes, weights, u0)
    if np.isfinite(val):
        ev.u_warm = model.pirls_u.u_vec
    return val


def settle(model: Any, ev: Any, best: Any, par: np.ndarray, value: float, nAGQ: int) -> tuple[float, list]:
    """Leave PIRLS at the optimum and check that the state reported reproduces the
    optimizer's best deviance (1e-8 relative); else PIRLS again from the best
    evaluation's u and beta. Returns the deviance of the state and, if it still
    differs, a message saying so (the estimates are then not at the optimum)."""
    got = best.fun(par)
    if _same(got, value):
        return value, []
    got = restore(model, ev, best, par, nAGQ)
    if _same(got, value):
        return value, []
    return float(got), [f"the fitted state does not reproduce the optimizer's deviance ({got:.10g} "
                        f"against {value:.10g}): PIRLS reached another conditional mode at the optimum, "
                        "so the estimates may be wrong"]


def gh_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Hermite nodes and weights for the standard normal (weights sum to 1)."""
    x, w = np.polynomial.hermite_e.hermegauss(int(n))
    return x, w / w.sum()


def _same(a, b, rtol=1e-8):
    return bool(np.isfinite(a) and np.isfinite(b) and abs(a - b) <= rtol * max(1.0, abs(b)))


def _gradient_failed(messages):
    return any("failed to converge" in m or "scaled gradient" in m for m in messages)


def _hessian_transform(hess, nt):
    """blockdiag(I, B) with B'H_bb B = I where the beta block of the Hessian is positive
    definite (the optimizer then sees a round valley in beta); None otherwise."""
    H = np.asarray(hess, dtype=np.float64)
    p = H.shape[0] - nt
    M = np.eye(nt + p)
    Hb = (H[nt:, nt:] + H[nt:, nt:].T) / 2
    try:
        L = np.linalg.cholesky(Hb)
        B = np.linalg.solve(L.T, np.eye(p))
    except np.linalg.LinAlgError:
        d = np.abs(np.diag(Hb))
        B = np.diag(np.where(np.isfinite(d) & (d > 0), 1.0 / np.sqrt(np.where(d > 0, d, 1.0)), 1.0))
    if np.all(np.isfinite(B)):
        M[nt:, nt:] = B * np.sqrt(2.0)           # H is of the deviance: 2 x the information
    return M


def _newton_step(fun, par, lower, grad, hess, fval):
    """One Newton step on the free (off-bound) parameters; (par, value) if it lowers fun."""
    free = ~(par <= lower)
    H = hess[np.ix_(free, free)]
    try:
        np.linalg.cholesky(H)                    # only where the model is locally convex
        step = np.linalg.solve(H, grad[free])
    except np.linalg.LinAlgError:
        return None
    new = np.array(par, dtype=float, copy=True)
    new[free] -= step
    if np.any(new < lower) or not np.all(np.isfinite(new)):
        return None
    val = float(fun(new))
    if not (np.isfinite(val) and val < fval - 1e-10 * abs(fval)):
        return None
    return new, val
