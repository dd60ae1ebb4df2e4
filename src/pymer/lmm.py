"""Linear mixed models: the model (predictor + response), its profiled objective, lmer()."""
from __future__ import annotations

from typing import Any, Callable
from numpy.typing import ArrayLike
import copy

import numpy as np
from scipy.linalg.lapack import dtrtrs

from ._core._background import Background
from ._core._blas_threads import single_threaded
from ._core._crossprod import crossprod_ztwz
from ._core._optim import LmmObjective
from ._core._optimum import fixed_block
from ._core._pls import PLS
from ._core._start import intercept_start
from ._core._zsetup import zt_xy
from .call import ModelCall
from .errors import PymerDataError
from .formula import parse_formula
from .numdiff import finite_diff_derivs
from .residualize import GRAM_MIN_ROWS, gram_matrix, gram_residualize
from .optimize import (COMPILED_OPTIMIZERS, OptResult, check_boundary, check_convergence, minimize,
                       optimizer_key, status_messages, warn_all)
from .results.lmm import LMMResult
from .terms import RandomEffects
from .validate import (_optimizer_name, check_control, check_grouping_factors,
                       check_residual_scale, check_response_numeric, check_start, check_weights,
                       filter_conv_messages, fixed_effects_design, residualize_response,
                       warn_singular)


class _PLS(PLS):
    """The compiled PLS of a response split as y = X beta0 + r (see
    :func:`pymer.validate.residualize_response`): the core's cross-products hold r,
    so large responses keep their digits; beta in and out is the full fixed effects."""

    beta0 = None

    def solve_fixed(self):
        RX, cb = fixed_block(self)
        if self.p == 0 or not np.isfinite(RX).all():
            return PLS.solve_fixed(self) + self.beta0     # its empty answer, or its error
        # what PLS.solve_fixed's scipy.linalg.solve_triangular runs (LAPACK's trtrs on the
        # same layout), without its argument checks
        if RX.flags.f_contiguous:
            x, info = dtrtrs(RX, cb, lower=0, trans=0)
        else:
            x, info = dtrtrs(RX.T, cb, lower=1, trans=1)
        if info != 0:
            return PLS.solve_fixed(self) + self.beta0
        return x + self.beta0

    @property
    def RX(self):
        """Upper-triangular R_X (p x p) with R_X' R_X = X'WX - R_ZX' R_ZX."""
        return fixed_block(self)[0]

    def solve_u(self, beta):
        return PLS.solve_u(self, np.asarray(beta, dtype=np.float64) - self.beta0)


# random-effects columns from which a model's core is set up on a thread of its own
BACKGROUND_SETUP_Q = 500


class LinearMixedModel:
    """A linear mixed model ready to be fitted: cross-products once, then only the core.

    Parameters
    ----------
    mf : ModelFrame
        Parsed formula and data (see :func:`pymer.formula.parse_formula`).
    REML : bool
        Optimize the REML criterion (True) or the deviance (False).
    call : ModelCall, optional
        The call that made it (for update()).
    control : dict, optional
        Checked control settings (their check_* actions apply while building).
    """

    def __init__(self, mf: Any, REML: bool = True, call: ModelCall | None = None,
                 control: dict | None = None) -> None:
        self.mf = mf
        self.call = call
        self.control = control
        self.REML = bool(REML)
        check_response_numeric(mf)
        self.y = np.asarray(mf.y, dtype=np.float64)
        self.n = self.y.shape[0]
        self.weights = check_weights(mf.weights, self.n)
        self.offset = np.zeros(self.n) if mf.offset is None else np.asarray(mf.offset, dtype=np.float64)
        self.re = RandomEffects.from_formula_terms(mf.random, self.n)
        self.zcols, self.zvals = self.re.zrows()
        self.colptr, self.rowind = self.re.pattern(self.zcols)
        # the core's set-up needs Z's pattern and p alone: it starts before the fixed
        # effects' checks, with the model frame's p (again in the rare case that aliased
        # columns are dropped); its errors are raised after the checks (core.result())
        core = self._start_core(mf.X.shape[1])
        # a tall unweighted X: X'X once (one BLAS syrk), for the aliasing check, the
        # least squares and the core's cross-products alike
        xtx = gram_matrix(mf.X) if self.n >= GRAM_MIN_ROWS and self.weights is None else None
        self.X, self.fixef_names, self.dropped_fixef = fixed_effects_design(mf, self.weights, control,
                                                                            order="C", gram=xtx)
        check_grouping_factors(self.re, self.n, lmm=True, control=control)
        self.p = self.X.shape[1]
        if self.p != mf.X.shape[1]:
            core, xtx = self._start_core(self.p), None
        self._build_core(core, xtx)

    @property
    def _theta_lower(self) -> np.ndarray:
        """Lower bounds of theta (0 for the diagonal elements of the covariance factors),
        computed once (read-only)."""
        lower = self.__dict__.get("_lower")
        if lower is None:
            lower = self._lower = self.re.lower_bounds()
            lower.flags.writeable = False
        return lower

    def __reduce__(self):
        # the compiled core holds no state a new one built from the model frame lacks
        return (type(self), (self.mf, self.REML, self.call, self.control))

    @property
    def data_name(self) -> str | None:
        return self.call.data_name if self.call is not None else None

    def with_response(self, y: ArrayLike) -> LinearMixedModel:
        """The same model (rows, design, weights) with response y, on a core of its own.

        Only what depends on y is computed: the core is a copy of this model's (its
        pattern, Z'WZ and the symbolic factorization are reused) whose cross-products
        with y are replaced; the design and the random-effects terms are shared.
        """
        y = np.asarray(y, dtype=np.float64).ravel()
        if y.shape[0] != self.n:
            raise ValueError(f"newresp has {y.shape[0]} values; the model has {self.n} observations")
        if not np.all(np.isfinite(y)):
            raise ValueError("newresp contains missing or non-finite values")
        model = object.__new__(type(self))
        model.__dict__.update(self.__dict__)
        model.mf = copy.copy(self.mf)       # its own response: a pickled refit rebuilds with y
        model.mf.y = y
        model.core = self.core.copy()
        model.set_response(y)
        return model

    def _start_core(self, p: int) -> Background:
        """The core's factorization set-up for p fixed effects (symbolic analyses: compiled,
        without the GIL), from Z's pattern: on larger models on a thread of its own while
        the checks and cross-products are computed here (InstEval: its ~50-90 ms hidden)."""
        col_term, col_off = self.re.column_structure()
        q, m = self.re.q, p + 1
        return Background(_PLS, self.colptr, self.rowind, np.zeros(self.rowind.shape[0]),
                          np.zeros((q, m)), np.zeros((m, m)), col_term, col_off, self.re.term_k,
                          self.n, thread=q >= BACKGROUND_SETUP_Q)

    def _build_core(self, core, xtx=None):
        """The cross-products written into the core (``core``: :meth:`_start_core`'s);
        ``xtx``: X'X of an unweighted X when the caller has it."""
        w = self.weights if self.weights is not None else np.ones(self.n)
        split = self._gram_split(xtx)
        if split is None:
            self.resid0, beta0 = residualize_response(self.X, self.y - self.offset, self.weights,
                                                      name=self.mf.response_name)
            ztz, ZtXy, XytXy = self.crossprods(self.resid0, w)
        else:
            self.resid0, beta0, XytXy = split
            ztz, ZtXy = self._z_crossprods(self.resid0, w)
        self.core = core.result()
        np.asarray(self.core.ztz)[:] = ztz
        np.asarray(self.core.ZtXy)[:] = ZtXy
        np.asarray(self.core.XytXy)[:] = XytXy
        self.core.beta0 = beta0
        # lme4's criterion includes -sum(log w) for prior weights
        self.log_w = float(np.sum(np.log(w[w > 0]))) if self.weights is not None else 0.0

    def _gram_split(self, xtx):
        """From GRAM_MIN_ROWS rows: the response's split (:func:`pymer.residualize.gram_residualize`)
        and [X r]'W[X r] from X'WX (``xtx``: X'X of an unweighted X when the caller has
        it), (r, beta0, [X r]'W[X r]); None below, or where X'WX is not well conditioned."""
        if self.n < GRAM_MIN_ROWS or self.p == 0:
            return None
        if xtx is None:
            xtx = gram_matrix(self.X if self.weights is None else self.X * np.sqrt(self.weights)[:, None])
        split = gram_residualize(self.X, self.y - self.offset, self.weights, xtx,
                                 name=self.mf.response_name)
        if split is None:
            return None
        r, beta0, xtr, rtr = split
        p = self.p
        XrtXr = np.empty((p + 1, p + 1))
        XrtXr[:p, :p] = xtx
        XrtXr[:p, p] = xtr
        XrtXr[p, :p] = xtr
        XrtXr[p, p] = rtr
        return r, beta0, XrtXr

    def _z_crossprods(self, y, w):
        """Z'WZ (on the core's pattern) and Z'W[X y]."""
        ztz = np.zeros(self.rowind.shape[0])
        crossprod_ztwz(self.colptr, self.rowind, self.zcols, self.zvals, w, ztz)
        y = np.ascontiguousarray(y, dtype=np.float64)
        return ztz, zt_xy(self.zcols, self.zvals, self.X, y, None if self.weights is None else w, self.re.q)

    def crossprods(self, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Z'WZ (on the core's pattern), Z'W[X y] and [X y]'W[X y]."""
        ztz, ZtXy = self._z_crossprods(y, w)
        # one matrix product, as ever: other summation orders (X'y by BLAS-2) change
        # [X y]'[X y] in its last digits, and the optimizer's path on ill-conditioned
        # models with it (sleepstudy's quadratic random slopes: another stopping point)
        Xy = np.empty((self.n, self.p + 1))
        Xy[:, :self.p] = self.X
        Xy[:, self.p] = y
        XytXy = Xy.T @ (Xy * w[:, None])
        return ztz, ZtXy, XytXy

    def set_response(self, y: ArrayLike) -> None:
        """Replace the response (refit, simulation): only the cross-products with y change
        (Z'WZ, Z'WX and X'WX do not depend on y)."""
        y = np.asarray(y, dtype=np.float64)
        resid0, beta0 = residualize_response(self.X, y - self.offset, self.weights,
                                             name=self.mf.response_name)
        p = self.p
        # the last column of Z'W[X y] and the last row and column of [X y]'W[X y]
        ZtXy = np.asarray(self.core.ZtXy)
        XytXy = np.asarray(self.core.XytXy)
        ZtXy[:, p], xty, XytXy[p, p] = self.response_crossprods(resid0)
        XytXy[:p, p] = xty
        XytXy[p, :p] = xty
        self.core.beta0 = beta0
        self.resid0 = resid0
        self.y = y

    def response_crossprods(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Z'Wr, X'Wr and r'Wr of a residualized response r: what :meth:`set_response`
        writes into the core (the bootstrap's refits compute theirs here too)."""
        r = np.ascontiguousarray(r, dtype=np.float64)
        wr = r if self.weights is None else r * self.weights
        # Z'Wr: zt_xy's last column, with no X columns before it (the same sums)
        ztr = zt_xy(self.zcols, self.zvals, self.X[:, :0], r, self.weights, self.re.q)[:, 0]
        return ztr, self.X.T @ wr, float(r @ wr)

    def start_theta(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Starting theta and BOBYQA's initial step.

        lme4's identity start (relative covariance factors I, default step), except
        when every term is a scalar random intercept: then each theta starts at a
        moment estimate sqrt(tau_t^2 / sigma^2) from the fixed-effects residuals
        (variance of the group means less their sampling variance, against the
        smallest pooled within-group variance), with a step of 0.25. On InstEval
        this cuts BOBYQA's evaluations from 111 to 39 (same optimum).
        """
        groups = self._start_groups()
        if groups is None:
            return self.re.theta_start(), None
        mask, codes, nlev = groups
        r = self.resid0 if mask is None else np.ascontiguousarray(self.resid0[mask])
        # compiled: numpy's sums in numpy's order (np.bincount, ndarray.sum)
        theta = intercept_start(codes, nlev, r)
        if theta is None:
            return self.re.theta_start(), None
        return theta, np.full(theta.size, 0.25)

    def _start_groups(self):
        """What :meth:`start_theta` needs of the design alone (computed once; the refits of
        :meth:`with_response` share it): None unless every term is a scalar random
        intercept, else (the rows with positive weight, or None for all rows, each term's
        codes on those rows, each term's number of levels)."""
        kept = self.__dict__.get("_start_groups_")
        if kept is not None:
            return kept[0]
        terms = self.re.terms
        groups = None
        if terms and all(t.k == 1 and np.all(t.X[:, 0] == 1.0) for t in terms):
            mask = None if self.weights is None else self.weights > 0
            codes = [np.ascontiguousarray(t.codes if mask is None else t.codes[mask], dtype=np.int64)
                     for t in terms]
            groups = (mask, codes, [int(t.nlev) for t in terms])
        self._start_groups_ = (groups,)
        return groups

    def objective(self, theta: ArrayLike, REML: bool | None = None) -> float:
        """Profiled REML criterion or deviance at theta (lme4's devfun)."""
        reml = self.REML if REML is None else REML
        val = self.core.objective(theta, reml) - self.log_w
        # pwrss <= 0 (-inf) is rounding, not a perfect fit: never a minimum
        return val if val > -np.inf else np.inf

    def dev_fun(self, start: ArrayLike | dict | None = None) -> DevFun:
        """The objective as a function of theta (lme4's ``devFunOnly = TRUE``), a :class:`DevFun`."""
        x0 = self.start_theta()[0] if start is None else check_start(start, self.re)
        return DevFun(self.objective, self, self.re.lower_bounds(), x0, self.re.theta_names())

    def fit(self, *, optimizer: str | None = None, start: ArrayLike | dict | None = None,
            control: dict | None = None, check_conv: bool = True) -> LMMResult:
        """Fit: optimize theta from `start` (or pymer's start) with the control settings
        (see :func:`pymer.validate.check_control`); `optimizer` overrides control's.

        BOBYQA and Nelder-Mead run in compiled code on the core (:class:`LmmObjective`:
        the optimizer, lme4's boundary handling and the finite-difference derivatives,
        without the GIL); other optimizers, or a subclass with its own objective, go
        through :func:`pymer.optimize.minimize`."""
        return self._fit(self._fit_control(control), optimizer=optimizer, start=start,
                         check_conv=check_conv)

    def _fit(self, ctl, *, optimizer=None, start=None, check_conv=True):
        """:meth:`fit` with control settings already checked (``ctl``: check_control's)."""
        optimizer = ctl["optimizer"] if optimizer is None else _optimizer_name(optimizer)
        step = None
        if start is None:
            x0, step = self.start_theta()
        else:
            x0 = check_start(start, self.re)
        x0 = np.asarray(x0, dtype=np.float64)
        lower = self._theta_lower
        derivs = bool(check_conv and ctl["check_conv"] and ctl["calc_derivs"])
        compiled = self._compiled_objective(optimizer, ctl, lower)
        at_optimum = None
        if compiled is not None:
            opt, grad_hess = self._optimize_compiled(compiled, optimizer, x0, step, ctl, derivs)
            # the compiled fit leaves the core evaluated at the optimum: the result reads it
            if compiled.core_at(opt.x):
                at_optimum = compiled.last_value
        else:
            opt, grad_hess = self._optimize_python(optimizer, x0, step, lower, ctl, derivs)
        theta = opt.x
        messages = list(opt.messages)
        if derivs:
            msgs, _, _ = check_convergence(None, theta, lower, tol_grad=ctl["check_conv_grad"]["tol"],
                                           tol_hess=ctl["check_conv_hess"]["tol"], derivs=grad_hess)
            messages += filter_conv_messages(msgs, ctl)
        warn_all(messages)
        warn_singular(self.re, theta, ctl)
        res = LMMResult(self, theta, opt, messages, objective=at_optimum)
        check_residual_scale(res.sigma, self.resid0, self.weights, name=self.mf.response_name)
        return res

    def _fit_control(self, control):
        """check_control of the fit's settings; the model's own are checked once and kept
        (refits of a bootstrap share them: with_response copies the model's attributes)."""
        if control is not None:
            return check_control(control, fun="lmer")
        kept = self.__dict__.get("_checked_control")
        if kept is None or kept[0] is not self.control:
            kept = (self.control, check_control(self.control, fun="lmer"))
            self._checked_control = kept
        return kept[1]

    def _compiled_objective(self, optimizer, ctl, lower):
        """The compiled objective and optimizer (:class:`LmmObjective`) for this fit, or None
        where it does not apply (L-BFGS-B, no theta, an objective of a subclass's own)."""
        key = optimizer_key(optimizer)
        if (key not in COMPILED_OPTIMIZERS or lower.size == 0 or not isinstance(self.core, PLS)
                or type(self).objective is not LinearMixedModel.objective):
            return None
        return LmmObjective(self.core, self.REML, self.log_w, lower, optimizer=key,
                            ftol_abs=ctl["ftol_abs"], xtol_abs=ctl["xtol_abs"],
                            ftol_rel=ctl["ftol_rel"], maxeval=ctl["maxeval"])

    def _start_error(self):
        return PymerDataError(
            "the model cannot be evaluated at the starting theta (CHOLMOD status "
            f"{self.core.status}): the fixed-effects model matrix is not of full rank for the "
            "weighted data, or the data hold values too large to square")

    def _optimize_compiled(self, obj, optimizer, x0, step, ctl, derivs):
        """The optimizer, boundary handling and derivatives in one compiled call."""
        r = obj.fit(x0, step, boundary_tol=ctl["boundary_tol"], restart_edge=ctl["restart_edge"],
                    calc_derivs=derivs)
        if r is None:
            raise self._start_error()
        x, fx, nevals, status, grad, hess = r
        opt = OptResult(x, fx, nevals, optimizer_key(optimizer), status,
                        status_messages(status, ctl["maxeval"]))
        return opt, (grad, hess)

    def _optimize_python(self, optimizer, x0, step, lower, ctl, derivs):
        """:func:`pymer.optimize.minimize` with a Python call of the objective per evaluation."""
        seen = {}

        def objective(theta):
            # the start, the optimizer's last point and the checks' centre repeat: evaluate once
            key = theta.tobytes()
            if key not in seen:
                seen[key] = self.objective(theta)
            return seen[key]

        if not np.isfinite(objective(x0)):
            raise self._start_error()

        def run(x, initial_step=None):
            return minimize(objective, x, lower, optimizer=optimizer, ftol_abs=ctl["ftol_abs"],
                            xtol_abs=ctl["xtol_abs"], ftol_rel=ctl["ftol_rel"], maxeval=ctl["maxeval"],
                            initial_step=initial_step)

        opt = run(x0, step)
        theta, opt.fun, rerun = check_boundary(objective, opt.x, opt.fun, lower, boundary_tol=ctl["boundary_tol"],
                                               restart=run if ctl["restart_edge"] else None)
        if rerun is not None:
            opt = rerun
        opt.x = np.asarray(theta, dtype=np.float64)
        grad_hess = finite_diff_derivs(objective, opt.x, lower) if derivs else None
        return opt, grad_hess


class DevFun:
    """A model's objective as a function, for optimizing it yourself (lme4's
    ``devFunOnly = TRUE``).

    ``f(par)`` is the profiled REML criterion or deviance at theta (``lmer``), the
    Laplace / adaptive Gauss-Hermite deviance at ``concat(theta, beta)`` (``glmer``,
    nAGQ >= 1), or the deviance at theta with beta inside PIRLS (``glmer``, nAGQ = 0).

    Attributes
    ----------
    model : LinearMixedModel or GeneralizedLinearMixedModel
        The model (design, response, random-effects structure).
    lower, upper : ndarray
        Box bounds of the parameters (0 for the diagonal elements of theta).
    start : ndarray
        pymer's starting point.
    names : list of str
        The parameters' names (theta in lme4's order, then the fixed effects).

    Examples
    --------
    >>> f = pymer.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy, dev_fun_only=True)
    >>> from scipy.optimize import minimize
    >>> r = minimize(f, f.start, bounds=list(zip(f.lower, f.upper)), method="L-BFGS-B")
    """

    def __init__(self, fun: Callable[[np.ndarray], float], model: Any, lower: ArrayLike,
                 start: ArrayLike, names: list[str]) -> None:
        self._fun = fun
        self.model = model
        self.lower = np.asarray(lower, dtype=np.float64)
        self.upper = np.full(self.lower.shape, np.inf)
        self.start = np.asarray(start, dtype=np.float64)
        self.names = list(names)

    def __call__(self, par: ArrayLike) -> float:
        par = np.atleast_1d(np.asarray(par, dtype=np.float64)).ravel()
        if par.shape != self.lower.shape:
            raise ValueError(f"the deviance function takes {self.lower.size} parameters "
                             f"({', '.join(self.names)}), not {par.size}")
        if np.any(par < self.lower):
            i = int(np.flatnonzero(par < self.lower)[0])
            raise ValueError(f"parameter {self.names[i]} = {par[i]:g} is below its lower bound 0")
        return float(self._fun(par))

    def __repr__(self):
        return f"<deviance function of ({', '.join(self.names)})>"


@single_threaded
def lmer(formula: str, data: Any, REML: bool = True, *, weights: str | ArrayLike | None = None,
         offset: str | ArrayLike | None = None, subset: str | ArrayLike | None = None,
         na_action: str | None = None,
         optimizer: str | None = None,
         start: ArrayLike | dict | None = None, control: dict | None = None,
         contrasts: dict | None = None, dev_fun_only: bool = False) -> LMMResult | DevFun:
    """Fit a linear mixed-effects model as lme4's ``lmer()`` does.

    Parameters
    ----------
    formula : str
        lme4 formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``.
    data : pandas.DataFrame or dict of arrays
        The data; never modified. (``pymer.lmer`` also takes a Dask DataFrame and
        fits it from cross-products reduced over its partitions: :func:`pymer.dask.lmer`.)
    REML : bool, default True
        REML (default) or maximum likelihood.
    weights, offset : str or array_like, optional
        Prior weights and an offset: a column name or a vector of len(data).
    subset : str or array_like of bool, optional
        The rows to fit: an R expression (``"Days >= 2"``) or one boolean per row.
    na_action : {"na.omit", "na.exclude", "na.fail"}, optional
        Rows with missing values are dropped (None: ``"na.omit"``) (``"na.exclude"``: ``fitted``,
        ``residuals()`` and ``predict()`` are padded with NaN at them) or an error.
    optimizer : {"bobyqa", "nelder_mead", "lbfgsb"}, optional
        Overrides ``control["optimizer"]`` (BOBYQA, lme4's default ``nloptwrap``).
    start : array_like or dict, optional
        Starting theta (lme4's order), or ``{"theta": ...}``.
    control : dict, optional
        lme4's ``lmerControl()`` settings with underscores for dots
        (``check_nobs_vs_nlev="ignore"``, ``check_conv_singular="ignore"``,
        ``calc_derivs``, ``restart_edge``, ``boundary_tol``, ``check_rankX``,
        ``check_scaleX``, ``optimizer``, ``optCtrl={"maxeval": ...}``, ...; see
        ``pymer.validate.CONTROL``); any other key is an error.
    contrasts : dict, optional
        R's ``contrasts``: factor -> ``"contr.sum"``, ``"contr.treatment(base=2)"``, a matrix, ...
        (see :func:`pymer.formula.parse_formula`).
    dev_fun_only : bool
        Return the objective as a function of theta (a :class:`DevFun`) instead of
        fitting, as lme4's ``devFunOnly = TRUE``.

    Returns
    -------
    LMMResult, or DevFun with ``dev_fun_only=True``
    """
    if not isinstance(REML, (bool, np.bool_, int, np.integer)):
        raise TypeError(f"REML must be True or False, not {REML!r}")
    call = ModelCall(lmer, formula, data, {"REML": REML, "weights": weights, "offset": offset,
                                           "subset": subset, "na_action": na_action,
                                           "optimizer": optimizer, "start": start, "control": control,
                                           "contrasts": contrasts})
    ctl = check_control(control, fun="lmer")
    if optimizer is not None:
        ctl["optimizer"] = _optimizer_name(optimizer)
    mf = parse_formula(formula, data, weights=weights, offset=offset, subset=subset,
                       na_action=na_action or "na.omit", contrasts=contrasts)
    model = LinearMixedModel(mf, REML=REML, call=call, control=ctl)
    if dev_fun_only:
        return model.dev_fun(start)
    return model._fit(ctl, start=start)
