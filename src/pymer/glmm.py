"""Generalized linear mixed models: glmer() and glmer_nb(), on the compiled PIRLS core."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any
from numpy.typing import ArrayLike
if TYPE_CHECKING:
    from .results.lmm import LMMResult
import copy
import functools
import gc
import warnings

import numpy as np

from ._core._blas_threads import single_blas_thread, single_threaded
from ._core._pirls import PIRLS
from ._core._pls import PLS
from .call import ModelCall
from .errors import PymerDataError, ResponseWarning, warn
from .families import NegativeBinomial, binomial_response, get_family, glm_start
from .formula import parse_formula
from .lmm import DevFun, lmer
from .numdiff import finite_diff_derivs
from .glmm_fit import Incumbent as _Incumbent  # noqa: F401  (its old home)
from .glmm_fit import (CONCAVE_LINKS, PythonObjective, fit_control, fit_stages, gh_rule, objective_of, restore,
                       settle)
from .optimize import warn_all
from .results.glmm import GLMMResult
from .terms import RandomEffects
from .validate import (_optimizer_name, check_control, check_family, check_family_object,
                       check_family_response, check_fitted_boundary, check_grouping_factors, check_nagq,
                       check_response_not_constant, check_weights,
                       fixed_effects_design, split_start, warn_singular)


def _gc_paused(fn):
    """Run fn with Python's cyclic garbage collector paused (re-enabled after, as it was).

    A fit allocates small objects at every evaluation (NLopt's callback, the arrays of
    the PIRLS state), and the collections they trigger scan every object the session
    holds (data frames, modules): 4-7% of a GLMM fit. Reference counting still frees
    everything the fit drops; cycles wait for the next collection after it.
    """
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not gc.isenabled():
            return fn(*args, **kwargs)
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            gc.enable()
    return wrapper


class GeneralizedLinearMixedModel:
    """A GLMM ready to be fitted: Z row-wise, two PIRLS states (beta inside, and u only)."""

    _joint_warm: tuple[np.ndarray, np.ndarray] | None    # nAGQ = 0: the (beta, u) PIRLS last reached

    def __init__(self, mf: Any, family: Any, call: ModelCall | None = None, control: dict | None = None,
                 mustart: ArrayLike | None = None, etastart: ArrayLike | None = None) -> None:
        self.mf = mf
        self.call = call
        self.control = control
        self.family = get_family(family)
        fam = self.family
        check_family_object(fam)
        self.n = int(np.asarray(mf.y).shape[0])
        w = check_weights(mf.weights, self.n)
        y, pw = self._read_response(mf, fam, w)
        self.y = y
        self.pw = pw
        self.weights = w
        self.offset = np.zeros(self.n) if mf.offset is None else np.asarray(mf.offset, dtype=np.float64)
        self.X, self.fixef_names, self.dropped_fixef = fixed_effects_design(mf, w, control)
        self.p = self.X.shape[1]
        self.re = RandomEffects.from_formula_terms(mf.random, self.n)
        check_grouping_factors(self.re, self.n, lmm=False, control=control)
        self.zcols, self.zvals = self.re.zrows()
        self.colptr, self.rowind = self.re.pattern(self.zcols)
        col_term, col_off = self.re.column_structure()
        q, p = self.re.q, self.p
        nnz = self.rowind.shape[0]
        self.core_joint = PLS(self.colptr, self.rowind, np.zeros(nnz), np.zeros((q, p + 1)),
                              np.eye(p + 1), col_term, col_off, self.re.term_k, self.n)
        self.core_u = PLS(self.colptr, self.rowind, np.zeros(nnz), np.zeros((q, 1)), np.eye(1),
                          col_term, col_off, self.re.term_k, self.n)
        self._make_pirls()
        # one BLAS thread: OpenBLAS threads woken for these n-row products stay spinning
        # through the fit (VerbAgg on two busy cores: 0.35 s against 0.27 s)
        with single_blas_thread():
            if mustart is None and etastart is None:
                self.beta_start = _start_beta(fam, self.X, y, pw, self.offset)
            else:
                self.beta_start = glm_start(fam, self.X, y, pw, self.offset, mustart=mustart, etastart=etastart)

    @property
    def data_name(self) -> str | None:
        return self.call.data_name if self.call is not None else None

    def with_response(self, y: ArrayLike) -> GeneralizedLinearMixedModel:
        """The same model (rows, design, family, weights) with response y (see
        :meth:`set_response`) on cores of its own: only what depends on y is new; the
        design, the random-effects terms and the cores' set-up (pattern, symbolic
        factorization) are this model's."""
        model = object.__new__(type(self))
        model.__dict__.update(self.__dict__)
        model.core_joint = self.core_joint.copy()
        model.core_u = self.core_u.copy()
        model.set_response(y)
        return model

    def set_response(self, y: ArrayLike, beta_start: ArrayLike | None = None) -> None:
        """Replace the response, keeping the cores (the bootstrap refits one working copy).

        Binomial: y as proportions (what :meth:`simulate` gives) with the model's
        numbers of trials, or as an (n, 2) array of (successes, failures). The fixed
        effects start at `beta_start`, or by default at the GLM's fit to y.
        """
        fam = self.family
        y = np.array(y, dtype=np.float64)         # a copy: the caller's array may be read-only
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        n = self.n
        if y.shape[0] != n or y.ndim > 2 or (y.ndim == 2 and (fam.name != "binomial" or y.shape[1] != 2)):
            raise ValueError(f"newresp must have one value per observation ({n})"
                             + (" or be (successes, failures) with 2 columns" if fam.name == "binomial" else "")
                             + f"; got shape {y.shape}")
        if not np.all(np.isfinite(y)):
            raise ValueError("newresp contains missing or non-finite values")
        yo = np.asarray(self.mf.y, dtype=np.float64)
        if fam.name == "binomial" and y.ndim == 1 and yo.ndim == 2:
            # proportions back to counts of the cbind() response, trials as fitted
            m = yo.sum(axis=1)
            s = y * m
            s = np.where(np.abs(s - np.round(s)) < 1e-8 * np.maximum(m, 1), np.round(s), s)
            y = np.column_stack([s, m - s])
        mf = copy.copy(self.mf)
        mf.y = y
        mf.response_levels = None
        y, pw = self._read_response(mf, fam, self.weights)
        self.mf, self.y, self.pw = mf, y, pw
        self._make_pirls()
        self._joint_warm = self._u_warm = None
        if beta_start is None:
            with single_blas_thread():
                beta_start = _start_beta(fam, self.X, y, pw, self.offset)
        self.beta_start = np.array(beta_start, dtype=np.float64)

    def _read_response(self, mf, fam, w):
        """(y, prior weights) of the model frame's response, checked for the family."""
        self._check_response(mf, fam, w, self.control)
        if fam.name == "binomial":
            return binomial_response(mf, w)
        return np.asarray(mf.y, dtype=np.float64), (np.ones(self.n) if w is None else w)

    def updated_call(self, formula: str | None = None, data: Any = None, *, family: Any = None,
                     nAGQ: int | None = None, **args: Any) -> ModelCall:
        """This model's call with a changed formula, data, family, nAGQ or arguments (lme4's
        update()); a glmer_nb fit given a family becomes a glmer call."""
        if self.call is None:
            raise ValueError("update() needs the call that made the fit: fit with pymer.glmer()")
        if nAGQ is not None:
            args["nAGQ"] = nAGQ
        fn = None
        if family is not None:
            args["family"] = family
            fn = glmer
        return self.call.update(formula, data, fn=fn, **args)

    @staticmethod
    def _check_response(mf, fam, weights, control=None):
        """The response as R's family reads it (see :mod:`pymer.validate`): binomial
        values in [0, 1] or non-negative counts, Poisson and negative binomial counts
        >= 0 (non-integer ones warn, as R does), Gamma and inverse Gaussian values > 0,
        not constant; a factor response only for the binomial family."""
        name = mf.response_name
        levels = getattr(mf, "response_levels", None)
        y = np.asarray(mf.y, dtype=np.float64)
        if fam.name != "binomial" and (levels is not None or y.ndim != 1):
            what = f"a factor (levels {list(levels)[:4]})" if levels is not None else "cbind(...)"
            raise PymerDataError(f"response '{name}' is {what}; the {fam.name} family needs one "
                                 "numeric column")
        if fam.name == "binomial" and levels is not None and len(levels) > 2:
            warn(f"factor response '{name}' has {len(levels)} levels: as R does, the first "
                 f"('{levels[0]}') counts as failure and all others "
                 f"({', '.join(repr(x) for x in list(levels)[1:4])}{', ...' if len(levels) > 4 else ''})"
                 " as success", ResponseWarning)
        check_family_response(fam.name, y, weights if fam.name == "binomial" and y.ndim == 1 else None,
                              name=name)
        check_response_not_constant(y, name=name,
                                    action=(control or {}).get("check_response_not_const", "stop"))

    def _make_pirls(self):
        fam = self.family
        nb = fam.theta or 1.0
        args = (self.y, self.pw, self.offset, self.X, self.zcols, self.zvals, self.colptr, self.rowind,
                fam.code, fam.link_code, nb)
        self.pirls_joint = PIRLS(self.core_joint, *args)
        self.pirls_u = PIRLS(self.core_u, *args)

    def RX_at(self, theta: np.ndarray, beta: np.ndarray, u: np.ndarray) -> np.ndarray:
        """R_X (R_X'R_X = X'WX - R_ZX'R_ZX) at the working weights of (theta, beta, u)."""
        pj = self.pirls_joint
        maxit = pj.maxit
        pj.maxit = 0           # no PIRLS step: only factor at the given point
        try:
            pj.laplace(theta, beta, u)
        finally:
            pj.maxit = maxit
        return self.core_joint.RX

    def set_nb_theta(self, theta: float) -> None:
        self.family = NegativeBinomial(theta, link=self.family.link)
        self.pirls_joint.nb_theta = theta
        self.pirls_u.nb_theta = theta

    def dev_fun(self, nAGQ: int = 1, theta: ArrayLike | None = None, fixef: ArrayLike | None = None) -> DevFun:
        """lme4's devFunOnly = TRUE for glmer (a :class:`pymer.lmm.DevFun`): the deviance
        of concat(theta, beta), or of theta with beta inside PIRLS at nAGQ = 0."""
        th = self.re.theta_start() if theta is None else np.asarray(theta, dtype=np.float64)
        if nAGQ == 0:
            self._joint_warm = None
            return DevFun(self.objective_nAGQ0, self, self.re.lower_bounds(), th, self.re.theta_names())
        beta = self.beta_start if fixef is None else np.asarray(fixef, dtype=np.float64)
        self._u_warm = None
        lower = np.concatenate([self.re.lower_bounds(), np.full(self.p, -np.inf)])
        return DevFun(lambda par: self.objective(par, nAGQ), self, lower, np.concatenate([th, beta]),
                      self.re.theta_names() + list(self.fixef_names))

    # ---- objectives ---------------------------------------------------------------
    def objective_nAGQ0(self, theta: np.ndarray) -> float:
        """Laplace deviance with beta optimized inside PIRLS (lme4's nAGQ = 0 stage).

        PIRLS starts from the GLM's beta and u = 0, or, where the log-likelihood is
        concave in eta (the mode is unique, so the start changes only the number of
        iterations), from the last (beta, u) it reached, moved to first order in
        theta. With other links (sqrt, identity, cauchit) the start can decide which
        of several modes PIRLS finds.
        """
        pj = self.pirls_joint
        fam = self.family
        warm = getattr(self, "_joint_warm", None) if (fam.name, fam.link) in CONCAVE_LINKS else None
        if warm is not None:
            # from the first-order prediction of the mode when PIRLS is at the last one
            val = pj.laplace(theta, warm[0], warm[1], True)
            if np.isfinite(val):
                self._joint_warm = (pj.beta_vec, pj.u_vec)
                return val
        val = pj.laplace(theta, self.beta_start, np.zeros(self.re.q))
        if np.isfinite(val):
            self._joint_warm = (pj.beta_vec, pj.u_vec)
        return val

    def objective(self, par: np.ndarray, nAGQ: int = 1) -> float:
        """Laplace (nAGQ=1) or adaptive Gauss-Hermite deviance at (theta, beta)."""
        nt = self.re.ntheta
        theta, beta = par[:nt], par[nt:]
        # warm start from the last mode that PIRLS reached (a failed step leaves no trace);
        # where the mode is unique, from the first-order prediction of the new mode
        # from the last one PIRLS converged to
        u0 = getattr(self, "_u_warm", None)
        if u0 is None:
            u0 = np.zeros(self.re.q)
        fam = self.family
        predict = (fam.name, fam.link) in CONCAVE_LINKS
        if nAGQ <= 1:
            val = self.pirls_u.laplace(theta, beta, u0, predict)
            if not predict and np.any(u0 != 0):
                val = self._lowest_mode(theta, beta, val)
        else:
            nodes, weights = gh_rule(nAGQ)
            val = self.pirls_u.agq(theta, beta, nodes, weights, u0, predict)
        if np.isfinite(val):
            self._u_warm = self.pirls_u.u_vec
        return val

    def _lowest_mode(self, theta, beta, val):
        """Laplace deviance at the conditional mode of lowest penalized deviance, of the
        modes PIRLS reaches from where it is now (val, a warm start) and from u = 0.

        Where the log-likelihood is not concave in eta (gaussian(inverse), identity and
        sqrt links) PIRLS can reach several modes, and a warm start carried from one
        evaluation to the next can leave the optimizer on a mode that is not the
        conditional mode (fitted means below 0 with the inverse link). The
        conditional mode minimizes the penalized deviance: the lower one wins, u = 0
        on ties, so the deviance does not depend on the optimizer's path.
        """
        pir = self.pirls_u
        pdev_warm = pir.pdev if np.isfinite(val) else np.inf
        u_warm = pir.u_vec
        val0 = pir.laplace(theta, beta, np.zeros(self.re.q))
        pdev0 = pir.pdev if np.isfinite(val0) else np.inf
        if not np.isfinite(pdev_warm) or pdev0 <= pdev_warm + 1e-10 * abs(pdev_warm):
            return val0
        return pir.laplace(theta, beta, u_warm)

    def derivatives(self, par: np.ndarray, nAGQ: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Gradient and Hessian of the deviance in (theta, beta) by central differences.

        As lme4's (its deriv12, step 1e-4), and central also for a theta on its
        bound: the deviance is a smooth function of Lambda's entries, so of theta
        across 0. Every evaluation starts PIRLS from the mode at `par` and runs it
        to convergence in u, so the differences see the Laplace deviance, not
        where PIRLS happened to stop.
        """
        par = np.asarray(par, dtype=np.float64)
        self.objective(par, nAGQ)
        u_hat = self.pirls_u.u_vec

        def dev(x):
            self._u_warm = u_hat
            return self.objective(x, nAGQ)

        grad, hess = finite_diff_derivs(dev, par, delta=1e-4)
        self._u_warm = u_hat
        return grad, hess

    @single_threaded
    @_gc_paused
    def fit(self, nAGQ: int = 1, *, optimizer: str | None = None, control: dict | None = None,
            start: ArrayLike | dict | None = None, check_conv: bool = True, calc_derivs: bool = True,
            start_fixef: ArrayLike | None = None) -> GLMMResult:
        control = fit_control(self, control)
        stages = control["optimizer"] if optimizer is None else (_optimizer_name(optimizer),) * 2
        check_conv = check_conv and control["check_conv"]
        calc_derivs = calc_derivs and control["calc_derivs"]
        self.pirls_joint.tol = self.pirls_u.tol = control["tolPwrss"]
        if nAGQ > 1 and not (len(self.re.terms) == 1 and self.re.terms[0].k == 1):
            raise ValueError("nAGQ > 1 is only available for models with a single, scalar random-effects term")
        if nAGQ > 1 and self.family.has_dispersion:
            raise ValueError(f"nAGQ > 1 is not available for the {self.family.name} family")
        nt = self.re.ntheta
        th0 = self.re.theta_start() if start is None else np.asarray(start, dtype=float)[:nt]
        self._joint_warm = self._u_warm = None
        if start_fixef is not None:
            self.beta_start = np.asarray(start_fixef, dtype=np.float64)
        ev = objective_of(self, nAGQ, stages)
        par, opt, messages, hess = fit_stages(self, ev, nAGQ, stages, control, th0, check_conv, calc_derivs)
        warn_all(messages)
        res = GLMMResult(self, par, nAGQ, opt, messages, hess)
        warn_singular(self.re, res.theta, control)
        return res

    def _restore(self, best, par, nAGQ):
        """PIRLS at par from the best evaluation's state (pymer.glmm_fit.restore)."""
        return restore(self, PythonObjective(self, nAGQ), best, par, nAGQ)

    def _settle(self, best, par, value, nAGQ):
        """The state left at the optimum, checked (pymer.glmm_fit.settle)."""
        return settle(self, PythonObjective(self, nAGQ), best, par, value, nAGQ)


def _start_beta(family, X, y, pw, offset):
    """The fixed-effects start: the GLM's (pymer.families.glm_start), or the intercept-only
    start, linkfun(mean y) projected on X, where that has the lower deviance.

    The GLM's IRLS can break down: a Gamma(log) with shape 0.1 (y down to 1e-26)
    overflows; with gaussian(inverse) it can run off to |beta| ~ 1e14, from where
    PIRLS never returns (as R's glm, which reports "algorithm did not converge"). PIRLS
    at nAGQ = 0 finds beta from either start, with step halving."""
    candidates = []
    # an overflow stops the GLM at once (before LAPACK meets the NaNs it would make)
    with np.errstate(over="raise", invalid="raise", divide="ignore", under="ignore"):
        try:
            candidates.append(glm_start(family, X, y, pw, offset))
        except (np.linalg.LinAlgError, FloatingPointError):
            pass
    with np.errstate(all="ignore"):
        ybar = float(np.sum(pw * y) / np.sum(pw)) if np.sum(pw) > 0 else float(np.mean(y))
        eta0 = np.asarray(family.linkfun(np.asarray([ybar])), dtype=np.float64)[0]
        if np.isfinite(eta0) and np.all(np.isfinite(X)) and np.all(np.isfinite(offset)):
            try:
                candidates.append(np.linalg.lstsq(X, np.full(X.shape[0], eta0) - offset, rcond=None)[0])
            except np.linalg.LinAlgError:
                pass
        devs = [_glm_deviance(family, X, b, y, pw, offset) for b in candidates]
    if not devs or not np.isfinite(min(devs)):
        raise PymerDataError(f"no starting values for the fixed effects: the {family.name}({family.link}) GLM "
                             "fit to the response breaks down (check the response's scale and the "
                             "predictors for extreme values)")
    return candidates[int(np.argmin(devs))]


def _glm_deviance(family, X, beta, y, pw, offset):
    """The GLM's deviance at beta (inf if not finite)."""
    if not np.all(np.isfinite(beta)):
        return np.inf
    eta = X @ beta + offset
    if not np.all(np.isfinite(eta)):
        return np.inf
    dev = float(np.sum(family.eval(eta, y, pw)[3]))
    return dev if np.isfinite(dev) else np.inf


@single_threaded
@_gc_paused
def glmer(formula: str, data: Any, family: Any = None, *, nAGQ: int = 1,
          weights: str | ArrayLike | None = None, offset: str | ArrayLike | None = None,
          subset: str | ArrayLike | None = None,
          na_action: str | None = None,
          optimizer: str | None = None,
          start: ArrayLike | dict | None = None, mustart: ArrayLike | None = None,
          etastart: ArrayLike | None = None, control: dict | None = None, contrasts: dict | None = None,
          dev_fun_only: bool = False) -> GLMMResult | LMMResult | DevFun:
    """Fit a generalized linear mixed model as lme4's ``glmer()`` does.

    Parameters
    ----------
    formula : str
        lme4 formula; binomial responses may be 0/1, a two-level factor,
        proportions with ``weights=``, or ``cbind(successes, failures)``.
    data : pandas.DataFrame or dict of arrays
    family : str or pymer.families.Family
        ``"binomial"``, ``"poisson"``, ``"Gamma"``, ``"inverse.gaussian"``,
        ``"gaussian"`` or e.g. ``pymer.families.Binomial(link="probit")`` (any link
        R's make.link() knows). Left out: gaussian, as lme4, which fits :func:`lmer`
        and warns that this shortcut is deprecated.
    nAGQ : int
        0 (beta inside PIRLS), 1 (Laplace, default) or > 1 (adaptive
        Gauss-Hermite, a single scalar random-effects term only).
    weights, offset : str or array_like, optional
        Prior weights (for binomial proportions: the numbers of trials) and an
        offset: a column name or one value per row.
    subset : str or array_like of bool, optional
        The rows to fit: an R expression (``"herd != '1'"``) or one boolean per row.
    na_action : {"na.omit", "na.exclude", "na.fail"}
        As in :func:`pymer.lmer`.
    optimizer : {"bobyqa", "nelder_mead", "lbfgsb"}, optional
        For both stages; overrides ``control["optimizer"]``.
    start : array_like or dict, optional
        Starting theta (lme4's order), or ``{"theta": ..., "fixef": ...}``.
    mustart, etastart : array_like, optional
        Starting means or linear predictor for the GLM that gives the starting
        fixed effects, one value per row of `data` (or per observation used).
    control : dict, optional
        lme4's ``glmerControl()`` settings with underscores for dots: the
        ``check_*`` actions, ``optimizer`` (one name, or one per stage, e.g.
        ``("bobyqa", "nelder_mead")``), ``calc_derivs``, ``boundary_tol``,
        ``tolPwrss``, ``nAGQ0initStep``, ``optCtrl``, ...; see
        ``pymer.validate.CONTROL``. Any other key is an error.
    contrasts : dict, optional
        R's ``contrasts`` (see :func:`pymer.formula.parse_formula`).
    dev_fun_only : bool
        Return the deviance as a function (a :class:`pymer.lmm.DevFun`) of
        ``concat(theta, beta)`` (nAGQ >= 1) or of theta (nAGQ = 0), as lme4's
        ``devFunOnly = TRUE``.

    Returns
    -------
    GLMMResult (an LMMResult for the gaussian family with the identity link), or DevFun
    """
    nAGQ = check_nagq(nAGQ)
    args = {"family": family, "nAGQ": nAGQ, "weights": weights, "offset": offset, "subset": subset,
            "na_action": na_action, "optimizer": optimizer, "start": start, "mustart": mustart,
            "etastart": etastart, "control": control, "contrasts": contrasts}
    no_family = family is None
    if no_family:
        family = "gaussian"
    if isinstance(family, str):
        family = check_family(family, known=list(_FAMILY_NAMES))
        if family == "negative.binomial":
            # R: negative.binomial() without its theta is an error, not theta = 1
            raise ValueError("family 'negative.binomial' needs its theta: use glmer_nb() to estimate it, "
                             "or family=pymer.families.NegativeBinomial(theta) for a known theta")
    fam = get_family(family)
    if fam.name == "gaussian" and fam.link == "identity":
        warn("calling glmer() with family=gaussian (identity link) as a shortcut to lmer() is "
             "deprecated; please call lmer() directly", DeprecationWarning)
        try:
            return lmer(formula, data, weights=weights, offset=offset, subset=subset, na_action=na_action,
                        optimizer=optimizer, start=start, control=control, contrasts=contrasts,
                        dev_fun_only=dev_fun_only)
        except PymerDataError as e:
            if not no_family:
                raise
            raise PymerDataError(f"{e}; glmer() without family= fits a gaussian model (lme4's default, "
                                 "as lmer()): pass family= (e.g. family='binomial')") from None
    ctl = check_control(control, fun="glmer")
    if optimizer is not None:
        ctl["optimizer"] = (_optimizer_name(optimizer),) * 2
    mf = parse_formula(formula, data, weights=weights, offset=offset, subset=subset,
                       na_action=na_action or "na.omit", contrasts=contrasts)
    call = ModelCall(glmer, formula, data, {**args, "family": fam})
    model = GeneralizedLinearMixedModel(mf, fam, call=call, control=ctl,
                                        mustart=_per_row(mustart, mf, "mustart"),
                                        etastart=_per_row(etastart, mf, "etastart"))
    check_nagq(nAGQ, model.re)
    theta0, fixef0 = split_start(start, model.re, model.fixef_names)
    if dev_fun_only:
        return model.dev_fun(nAGQ, theta0, fixef0)
    res = model.fit(nAGQ=nAGQ, control=ctl, start=theta0, start_fixef=fixef0)
    check_fitted_boundary(model.family, res.mu, model.pw)
    return res


def _per_row(values, mf, what):
    """mustart / etastart: one finite value per row of the data (or per observation used)."""
    if values is None:
        return None
    try:
        v = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise PymerDataError(f"{what} must be numbers, one per row of the data") from None
    if v.shape[0] == mf.data_nrow:
        v = v[mf.rows]
    elif v.shape[0] != mf.n:
        raise PymerDataError(f"{what} has {v.shape[0]} values; the data have {mf.data_nrow} rows "
                             f"({mf.n} used)")
    if not np.all(np.isfinite(v)):
        raise PymerDataError(f"{what} has missing or non-finite values")
    return v


# the family names glmer() accepts as strings (pymer.families.get_family's)
_FAMILY_NAMES = ("binomial", "poisson", "Gamma", "inverse.gaussian", "gaussian", "negative.binomial")


@single_threaded
@_gc_paused
def glmer_nb(formula: str, data: Any, *, weights: str | ArrayLike | None = None,
             offset: str | ArrayLike | None = None, subset: str | ArrayLike | None = None,
             na_action: str | None = None, nAGQ: int = 1,
             control: dict | None = None, contrasts: dict | None = None) -> GLMMResult:
    """Negative binomial GLMM with its theta estimated, as lme4's ``glmer.nb()``.

    Alternates: the GLMM at fixed NB theta, then theta maximizing the
    Laplace likelihood at the fitted model, until theta settles.
    """
    from scipy.optimize import minimize_scalar

    nAGQ = check_nagq(nAGQ)
    given_control = control
    control = check_control(control, fun="glmer_nb")
    check_conv = control["check_conv"]
    mf = parse_formula(formula, data, weights=weights, offset=offset, subset=subset,
                       na_action=na_action or "na.omit", contrasts=contrasts)
    # the response as the negative binomial family reads it (its messages, each warning
    # once); the Poisson start and the model below repeat these checks quietly
    n = int(np.asarray(mf.y).shape[0])
    GeneralizedLinearMixedModel._check_response(mf, NegativeBinomial(1.0), check_weights(mf.weights, n))
    # start from a Poisson GLMM, then theta from the moments of its fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pois = GeneralizedLinearMixedModel(mf, "poisson")
    check_nagq(nAGQ, pois.re)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = pois.fit(nAGQ=nAGQ, check_conv=False, calc_derivs=False)
    y = pois.y
    mu = g.mu
    th = float(np.clip(np.mean(mu) ** 2 / max(np.var(y - mu) - np.mean(mu), 1e-8), 1e-3, 1e5))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ResponseWarning)
        model = GeneralizedLinearMixedModel(
            mf, NegativeBinomial(th),
            call=ModelCall(glmer_nb, formula, data, {"nAGQ": nAGQ, "weights": weights, "offset": offset,
                                                     "subset": subset, "na_action": na_action,
                                                     "control": given_control,
                                                     "contrasts": contrasts}), control=control)
    par = np.concatenate([g.theta, g.beta])
    last = None
    for it in range(20):
        model.set_nb_theta(th)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = model.fit(nAGQ=nAGQ, control=control, check_conv=False, calc_derivs=False,
                            start=par[:model.re.ntheta])
        par = np.concatenate([res.theta, res.beta])

        def nb_dev(logth):
            model.set_nb_theta(float(np.exp(logth)))
            return model.objective(par, nAGQ)

        r = minimize_scalar(nb_dev, bracket=(np.log(th) - 1, np.log(th) + 1), tol=1e-10)
        new = float(np.exp(r.x))
        if last is not None and abs(res.objective - last) < 1e-8 and abs(np.log(new / th)) < 1e-6:
            th = new
            break
        last = res.objective
        th = new
    model.set_nb_theta(th)
    return model.fit(nAGQ=nAGQ, control=control, start=par[:model.re.ntheta], check_conv=check_conv)
