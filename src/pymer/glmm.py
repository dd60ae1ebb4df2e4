"""Generalized linear mixed models: glmer() and glmer_nb(), on the compiled PIRLS core."""
from __future__ import annotations

import copy
import warnings

import numpy as np

from ._core._blas_threads import single_blas_thread, single_threaded
from ._core._pirls import PIRLS
from ._core._pls import PLS
from .call import ModelCall
from .errors import PymerDataError, ResponseWarning, SingularFitWarning
from .families import NegativeBinomial, binomial_response, get_family, glm_start
from .formula import parse_formula
from .lmm import lmer
from .numdiff import finite_diff_derivs
from .optimize import check_convergence, minimize, warn_all
from .results.glmm import GLMMResult
from .terms import RandomEffects
from .validate import (GLMER_CONTROL, check_control, check_family,
                       check_family_object, check_family_response, check_fitted_boundary,
                       check_grouping_factors, check_nagq, check_response_not_constant, check_start,
                       check_weights, fixed_effects_design)


class GeneralizedLinearMixedModel:
    """A GLMM ready to be fitted: Z row-wise, two PIRLS states (beta inside, and u only)."""

    def __init__(self, mf, family, call=None):
        self.mf = mf
        self.call = call
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
        self.X, self.fixef_names, self.dropped_fixef = fixed_effects_design(mf, w)
        self.p = self.X.shape[1]
        self.re = RandomEffects.from_formula_terms(mf.random, self.n)
        check_grouping_factors(self.re, self.n, lmm=False)
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
            self.beta_start = glm_start(fam, self.X, y, pw, self.offset)

    @property
    def data_name(self):
        return self.call.data_name if self.call is not None else None

    def with_response(self, y):
        """The same model (rows, design, family, weights) with response y.

        Binomial: y as proportions (what :meth:`simulate` gives) with the model's
        numbers of trials, or as an (n, 2) array of (successes, failures).
        """
        old = self
        mf = copy.copy(old.mf)
        fam = old.family
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
        yo = np.asarray(old.mf.y, dtype=np.float64)
        if fam.name == "binomial" and y.ndim == 1 and yo.ndim == 2:
            # proportions back to counts of the cbind() response, trials as fitted
            m = yo.sum(axis=1)
            s = y * m
            s = np.where(np.abs(s - np.round(s)) < 1e-8 * np.maximum(m, 1), np.round(s), s)
            y = np.column_stack([s, m - s])
        mf.y = y
        mf.response_levels = None
        # only what depends on y is new: the design, the random-effects terms and the
        # cores' set-up (pattern, symbolic factorization) are this model's
        y, pw = old._read_response(mf, fam, old.weights)
        model = object.__new__(type(old))
        model.__dict__.update(old.__dict__)
        model.mf, model.y, model.pw = mf, y, pw
        model.core_joint = old.core_joint.copy()
        model.core_u = old.core_u.copy()
        model._make_pirls()
        model._joint_warm = model._u_warm = None
        with single_blas_thread():
            model.beta_start = glm_start(fam, model.X, y, pw, model.offset)
        return model

    def _read_response(self, mf, fam, w):
        """(y, prior weights) of the model frame's response, checked for the family."""
        self._check_response(mf, fam, w)
        if fam.name == "binomial":
            return binomial_response(mf, w)
        return np.asarray(mf.y, dtype=np.float64), (np.ones(self.n) if w is None else w)

    def updated_call(self, formula=None, data=None, *, family=None, nAGQ=None, **args) -> ModelCall:
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
    def _check_response(mf, fam, weights):
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
            warnings.warn(f"factor response '{name}' has {len(levels)} levels: as R does, the first "
                          f"('{levels[0]}') counts as failure and all others "
                          f"({', '.join(repr(x) for x in list(levels)[1:4])}{', ...' if len(levels) > 4 else ''})"
                          " as success", ResponseWarning, stacklevel=5)
        check_family_response(fam.name, y, weights if fam.name == "binomial" and y.ndim == 1 else None,
                              name=name)
        check_response_not_constant(y, name=name)

    def _make_pirls(self):
        fam = self.family
        nb = fam.theta or 1.0
        args = (self.y, self.pw, self.offset, self.X, self.zcols, self.zvals, self.colptr, self.rowind,
                fam.code, fam.link_code, nb)
        self.pirls_joint = PIRLS(self.core_joint, *args)
        self.pirls_u = PIRLS(self.core_u, *args)

    def RX_at(self, theta, beta, u):
        """R_X (R_X'R_X = X'WX - R_ZX'R_ZX) at the working weights of (theta, beta, u)."""
        pj = self.pirls_joint
        maxit = pj.maxit
        pj.maxit = 0           # no PIRLS step: only factor at the given point
        try:
            pj.laplace(theta, beta, u)
        finally:
            pj.maxit = maxit
        return self.core_joint.RX

    def set_nb_theta(self, theta):
        self.family = NegativeBinomial(theta, link=self.family.link)
        self.pirls_joint.nb_theta = theta
        self.pirls_u.nb_theta = theta

    # ---- objectives ---------------------------------------------------------------
    def objective_nAGQ0(self, theta):
        """Laplace deviance with beta optimized inside PIRLS (lme4's nAGQ = 0 stage).

        PIRLS starts from the GLM's beta and u = 0, or, where the log-likelihood is
        concave in eta (the mode is unique, so the start changes only the number of
        iterations), from the last (beta, u) it reached, moved to first order in
        theta. With other links (sqrt, identity, cauchit) the start can decide which
        of several modes PIRLS finds.
        """
        pj = self.pirls_joint
        fam = self.family
        warm = getattr(self, "_joint_warm", None) if (fam.name, fam.link) in _CONCAVE_LINKS else None
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

    def objective(self, par, nAGQ=1):
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
        predict = (fam.name, fam.link) in _CONCAVE_LINKS
        if nAGQ <= 1:
            val = self.pirls_u.laplace(theta, beta, u0, predict)
        else:
            nodes, weights = _gh_rule(nAGQ)
            val = self.pirls_u.agq(theta, beta, nodes, weights, u0, predict)
        if np.isfinite(val):
            self._u_warm = self.pirls_u.u_vec
        return val

    def derivatives(self, par, nAGQ=1):
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
    def fit(self, nAGQ=1, *, optimizer="bobyqa", control=None, start=None, check_conv=True, calc_derivs=True):
        control = dict(control or {})
        if nAGQ > 1 and not (len(self.re.terms) == 1 and self.re.terms[0].k == 1):
            raise ValueError("nAGQ > 1 is only available for models with a single, scalar random-effects term")
        if nAGQ > 1 and self.family.has_dispersion:
            raise ValueError(f"nAGQ > 1 is not available for the {self.family.name} family")
        nt = self.re.ntheta
        lower_t = self.re.lower_bounds()
        th0 = self.re.theta_start() if start is None else np.asarray(start, dtype=float)[:nt]
        self._joint_warm = self._u_warm = None
        opt0 = minimize(self.objective_nAGQ0, th0, lower_t, optimizer=optimizer,
                        ftol_abs=control.get("ftol_abs", 1e-8), xtol_abs=control.get("xtol_abs", 1e-8))
        theta = opt0.x
        self.objective_nAGQ0(theta)
        beta = self.pirls_joint.beta_vec
        u_joint = self.pirls_joint.u_vec
        messages = list(opt0.messages)
        opt = opt0
        if nAGQ == 0:
            fun = self.objective_nAGQ0
            par = theta
            lower = lower_t
        else:
            fun = lambda x: self.objective(x, nAGQ)
            par0 = np.concatenate([theta, beta])
            lower = np.concatenate([lower_t, np.full(self.p, -np.inf)])
            self._u_warm = u_joint
            # first steps as lme4's second stage takes them: 0.02 in theta, a fifth of a
            # standard error (R_X of the nAGQ = 0 fit) in beta. NLopt's default would be
            # 3/4 of the distance to the bound: nothing for a theta near 0 after stage 1.
            with np.errstate(all="ignore"):
                try:
                    se0 = np.sqrt(np.sum(np.linalg.inv(self.core_joint.RX) ** 2, axis=1))
                except np.linalg.LinAlgError:
                    se0 = np.ones(self.p)
            step = np.concatenate([np.full(nt, 0.02), 0.2 * np.where(np.isfinite(se0) & (se0 > 0), se0, 1.0)])
            # stop on the step size only: in a flat, correlated (theta, beta) valley BOBYQA
            # makes steps that change the deviance by < 1e-10 long before the optimum
            # (VerbAgg: ftol_abs = 1e-8 or 1e-10 stopped it at a scaled gradient of 6e-3)
            opt = minimize(fun, par0, lower, optimizer=optimizer,
                           ftol_abs=control.get("ftol_abs", 0.0), xtol_abs=control.get("xtol_abs", 1e-6),
                           ftol_rel=control.get("ftol_rel", 0.0), initial_step=step)
            messages += opt.messages
            par = opt.x
        hess = None
        if nAGQ > 0 and (check_conv or calc_derivs):
            grad, hess = self.derivatives(par, nAGQ)
            if check_conv:
                conv = check_convergence(fun, par, lower, derivs=(grad, hess))[0]
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
                    grad, hess = self.derivatives(par, nAGQ)
                    conv = check_convergence(fun, par, lower, derivs=(grad, hess))[0]
                messages += conv
        fun(par)       # leave the PIRLS state at the optimum
        warn_all(messages, stacklevel=4)
        res = GLMMResult(self, par, nAGQ, opt, messages, hess)
        if res.is_singular:
            warnings.warn("boundary (singular) fit: see help('isSingular')", SingularFitWarning, stacklevel=4)
        return res


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


# (family, link) whose log-likelihood is concave in eta: canonical links, and the log-
# concave binomial links and log links for counts and Gamma
_CONCAVE_LINKS = {("binomial", "logit"), ("binomial", "probit"), ("binomial", "cloglog"),
                  ("poisson", "log"), ("negative.binomial", "log"), ("Gamma", "log"),
                  ("Gamma", "inverse"), ("inverse.gaussian", "1/mu^2"), ("gaussian", "identity")}


def _gh_rule(n):
    x, w = np.polynomial.hermite_e.hermegauss(int(n))
    return x, w / w.sum()


@single_threaded
def glmer(formula, data, family="binomial", *, nAGQ=1, weights=None, offset=None,
          optimizer="bobyqa", start=None, control=None):
    """Fit a generalized linear mixed model as lme4's ``glmer()`` does.

    Parameters
    ----------
    formula : str
        lme4 formula; binomial responses may be 0/1, a two-level factor,
        proportions with ``weights=``, or ``cbind(successes, failures)``.
    data : pandas.DataFrame or dict of arrays
    family : str or pymer.families.Family
        ``"binomial"``, ``"poisson"``, ``"Gamma"``, ``"inverse.gaussian"``,
        ``"gaussian"`` or e.g. ``pymer.families.Binomial(link="probit")``.
    nAGQ : int
        0 (beta inside PIRLS), 1 (Laplace, default) or > 1 (adaptive
        Gauss-Hermite, a single scalar random-effects term only).
    weights, offset : str or array_like, optional
        Prior weights (for binomial proportions: the numbers of trials) and an
        offset: a column name or one value per row.
    optimizer : {"bobyqa", "nelder_mead"}
    start : array_like, optional
        Starting theta (lme4's order).
    control : dict, optional
        ``ftol_abs``, ``xtol_abs``, ``ftol_rel``, ``check_conv``; any other key
        is an error.

    Returns
    -------
    GLMMResult
    """
    nAGQ = check_nagq(nAGQ)
    given_control = control
    control = check_control(control, GLMER_CONTROL, "glmer")
    check_conv = bool(control.pop("check_conv", True))
    if isinstance(family, str):
        family = check_family(family, known=list(_FAMILY_NAMES))
        if family == "negative.binomial":
            # R: negative.binomial() without its theta is an error, not theta = 1
            raise ValueError("family 'negative.binomial' needs its theta: use glmer_nb() to estimate it, "
                             "or family=pymer.families.NegativeBinomial(theta) for a known theta")
    fam = get_family(family)
    if fam.name == "gaussian" and fam.link == "identity":
        warnings.warn("calling glmer() with family=gaussian (identity link) as a shortcut to lmer() is "
                      "deprecated; please call lmer() directly", DeprecationWarning, stacklevel=2)
        return lmer(formula, data, weights=weights, offset=offset)
    mf = parse_formula(formula, data, weights=weights, offset=offset)
    call = ModelCall(glmer, formula, data, {"family": fam, "nAGQ": nAGQ, "weights": weights, "offset": offset,
                                            "optimizer": optimizer, "control": given_control})
    model = GeneralizedLinearMixedModel(mf, fam, call=call)
    check_nagq(nAGQ, model.re)
    start = check_start(start, model.re)
    res = model.fit(nAGQ=nAGQ, optimizer=optimizer, control=control, start=start, check_conv=check_conv)
    check_fitted_boundary(model.family, res.mu, model.pw)
    return res


# the family names glmer() accepts as strings (pymer.families.get_family's)
_FAMILY_NAMES = ("binomial", "poisson", "Gamma", "inverse.gaussian", "gaussian", "negative.binomial")


@single_threaded
def glmer_nb(formula, data, *, weights=None, offset=None, nAGQ=1, control=None):
    """Negative binomial GLMM with its theta estimated, as lme4's ``glmer.nb()``.

    Alternates: the GLMM at fixed NB theta, then theta maximizing the
    Laplace likelihood at the fitted model, until theta settles.
    """
    from scipy.optimize import minimize_scalar

    nAGQ = check_nagq(nAGQ)
    given_control = control
    control = check_control(control, GLMER_CONTROL, "glmer_nb")
    check_conv = bool(control.pop("check_conv", True))
    mf = parse_formula(formula, data, weights=weights, offset=offset)
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
                                                     "control": given_control}))
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
