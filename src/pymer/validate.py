"""Checks of a model's inputs, with lme4's messages where lme4 has one.

Every check raises an exception that is a ``ValueError`` (``PymerDataError``),
``KeyError`` or ``TypeError`` subclass and names the culprit (the column, the
term, the value), or warns as lme4 warns and lets the fit go on. The checks
that only GLMMs need (``check_family``, ``check_link``, ``check_family_response``,
``check_nagq``, ...) live here too, so that every model reads its inputs the
same way.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import numpy as np

from ._core._colstats import column_summary

from .errors import (ConvergenceWarning, PerfectFitWarning, PredictorScaleWarning, PymerDataError,  # noqa: F401
                     RankDeficiencyWarning, ResponseWarning, SingularFitWarning, suggest_names, warn)
from .families import FAMILY_LINKS, check_link  # noqa: F401  (check_link: validate's API)
from .residualize import (_TINY, _rescale_hint, check_residual_scale,  # noqa: F401  (validate's API)
                          least_squares_solver, refined_least_squares, residualize_response)


def _first(mask, values=None):
    """'row i' (and value) of the first True in mask, for messages."""
    i = int(np.flatnonzero(mask)[0])
    if values is None:
        return f"row {i}"
    return f"row {i}: {np.asarray(values)[i]:g}"


# =============================================================================
# Response, weights
# =============================================================================


def check_response_numeric(mf):
    """An LMM needs one numeric response column (not a factor, not cbind())."""
    if getattr(mf, "response_levels", None) is not None:
        raise PymerDataError(
            f"response '{mf.response_name}' is a factor (levels {list(mf.response_levels)[:4]}); "
            "a linear mixed model needs a numeric response")
    y = np.asarray(mf.y)
    if y.ndim != 1:
        raise PymerDataError(f"response '{mf.response_name}' must be a single numeric column for lmer")


def check_weights(weights, n):
    """Prior weights: one finite value >= 0 per observation, not all zero.

    Zero weights are allowed (lme4 allows them): such rows stay in the model and
    contribute nothing to the fit except their count.
    """
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise PymerDataError(f"weights must have one value per observation ({n}), got shape {w.shape}")
    bad = ~np.isfinite(w)
    if bad.any():
        raise PymerDataError(f"weights contain non-finite values ({int(bad.sum())} rows, first at "
                             f"{_first(bad, w)})")
    if np.any(w < 0):
        raise PymerDataError(f"negative weights not allowed ({int(np.sum(w < 0))} rows, first at "
                             f"{_first(w < 0, w)})")
    if not np.any(w > 0):
        raise PymerDataError("all weights are zero: no observation is left to fit")
    return w


# =============================================================================
# Random-effects structure
# =============================================================================


def _term_label(t) -> str:
    lhs = getattr(t, "lhs", "") or " + ".join(t.colnames)
    return f"({lhs} | {t.group})"


def check_grouping_factors(re, n, lmm=True, control=None):
    """lme4's checks on the grouping factors (?lmerControl, check.nlev.gtr.1,
    check.nobs.vs.nlev, check.nobs.vs.nRE), each with its control action
    ("stop", the default, "warning" or "ignore").

    Every grouping factor needs more than one level. In a model with an
    estimated residual scale (``lmm=True``: LMMs, and GLMMs of the gaussian,
    Gamma and inverse.gaussian families) the number of levels must be below the
    number of observations, and so must the number of random effects of each
    term; with a fixed scale (binomial, Poisson) equality is allowed.
    """
    act = {k: (control or {}).get(k, "stop")
           for k in ("check_nlev_gtr_1", "check_nobs_vs_nlev", "check_nobs_vs_nRE")}
    for t in re.terms:
        if t.nlev < 2:
            check_action(act["check_nlev_gtr_1"],
                         f"grouping factors must have > 1 sampled level (problem: '{t.group}' has {t.nlev}"
                         f"{': ' + repr(t.levels[0]) if t.nlev == 1 else ''})")
    too_many = (lambda m: m >= n) if lmm else (lambda m: m > n)
    bad = [t.group for t in re.terms if too_many(t.nlev)]
    if bad:
        check_action(act["check_nobs_vs_nlev"],
                     f"number of levels of each grouping factor must be {'<' if lmm else '<='} number of "
                     f"observations (problems: {', '.join(dict.fromkeys(bad))})")
    for t in re.terms:
        if too_many(t.nlev * t.k):
            check_action(act["check_nobs_vs_nRE"],
                         f"number of observations (={n}) {'<=' if lmm else '<'} number of random effects "
                         f"(={t.nlev * t.k}) for term {_term_label(t)}; the random-effects parameters"
                         + (" and the residual variance (or scale parameter)" if lmm else "")
                         + " are probably unidentifiable")


def check_start(start, re):
    """A starting theta: one finite value per theta element, in lme4's order, given as a
    vector or as ``{"theta": ...}`` (a ``"fixef"`` entry is glmer's: see :func:`split_start`).

    Returns it as a float array (None stays None)."""
    if start is None:
        return None
    if isinstance(start, Mapping):
        if set(start) - {"theta"}:
            raise TypeError(f"start as a dict takes the key 'theta' only (glmer also 'fixef'), "
                            f"not {sorted(start)}")
        start = start.get("theta")
        if start is None:
            return None
    try:
        th = np.asarray(start, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise TypeError(f"start must be a vector of numbers (theta), not {type(start).__name__}") from None
    names = re.theta_names()
    if th.shape[0] != len(names):
        raise ValueError(f"start has {th.shape[0]} values; theta has {len(names)} "
                         f"({', '.join(names)}), in lme4's order")
    if not np.all(np.isfinite(th)):
        raise ValueError("start has non-finite values")
    lower = re.lower_bounds()
    below = th < lower
    if below.any():
        i = int(np.flatnonzero(below)[0])
        raise ValueError(f"start value {th[i]:g} for {names[i]} is below its lower bound 0 "
                         "(diagonal elements of theta are standard deviation ratios)")
    return th


def split_start(start, re, fixef_names):
    """glmer's ``start=``: theta alone (a vector), or ``{"theta": ..., "fixef": ...}``
    (either may be left out). Returns (theta or None, fixef or None), checked."""
    if not isinstance(start, Mapping):
        return check_start(start, re), None
    extra = set(start) - {"theta", "fixef"}
    if extra:
        raise TypeError(f"start as a dict takes the keys 'theta' and 'fixef', not {sorted(extra)}")
    theta = check_start({"theta": start.get("theta")}, re)
    fixef = start.get("fixef")
    if fixef is None:
        return theta, None
    try:
        fe = np.asarray(fixef, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise TypeError(f"start['fixef'] must be a vector of numbers, not {type(fixef).__name__}") from None
    if fe.shape[0] != len(fixef_names):
        raise ValueError(f"start['fixef'] has {fe.shape[0]} values; the model has {len(fixef_names)} "
                         f"fixed effects ({', '.join(fixef_names)})")
    if not np.all(np.isfinite(fe)):
        raise ValueError("start['fixef'] has non-finite values")
    return theta, fe


# =============================================================================
# Fixed-effects model matrix
# =============================================================================


def drop_aliased_columns(X, names, tol=1e-7, action="message+drop.cols", gram=None):
    """Keep the columns of X that are not linear combinations of earlier ones.

    Like R's pivoted QR with limited pivoting (dqrdc2), columns are examined in
    order and a column whose residual after projection on the kept ones is
    below tol (relative to its norm) is dropped. Returns (kept indices, dropped names).
    ``gram``: X'X, when the caller has it (the screen then does not form it).
    """
    X = np.asarray(X, dtype=np.float64)
    n, p = X.shape
    if p == 1:
        # one column: kept unless it is zero (what the loop below does with it)
        keep = [] if np.linalg.norm(X[:, 0]) == 0.0 else [0]
        return keep, _dropped_columns(keep, names, action)
    if n >= 4 * p:
        # Screen: the Cholesky factor of X'X (one BLAS-3 product) has L_jj = the norm of
        # column j's residual on the earlier columns; its relative error is far below
        # 1e-5 (cancellation costs sqrt(eps) at the most), so when every ratio clears
        # 100 tol no column can fall below tol in the loop, which keeps them all.
        XtX = X.T @ X if gram is None else gram
        with np.errstate(invalid="ignore"):
            norms = np.sqrt(np.diag(XtX))
        if np.all(norms > 0.0) and np.all(np.isfinite(norms)):
            try:
                L = np.linalg.cholesky(XtX)
            except np.linalg.LinAlgError:
                L = None
            if L is not None and np.all(np.diag(L) / norms >= 100.0 * tol):
                keep = list(range(p))
                return keep, _dropped_columns(keep, names, action)
    keep = []
    Qall = np.zeros((p, n))          # rows: the orthonormal basis so far (contiguous)
    for j in range(p):
        col = X[:, j]
        nrm = np.linalg.norm(col)
        if nrm == 0.0:
            continue
        Q = Qall[:len(keep)]
        r = col - (Q @ col) @ Q
        r = r - (Q @ r) @ Q        # re-orthogonalize
        rn = np.linalg.norm(r)
        if rn / nrm < tol:
            continue
        Qall[len(keep)] = r / rn
        keep.append(j)
    return keep, _dropped_columns(keep, names, action)


def _dropped_columns(keep, names, action):
    """The names of the columns not kept, with control check_rankX's action on them."""
    p = len(names)
    dropped = [names[j] for j in range(p) if j not in keep]
    if dropped and action == "stop.deficient":
        raise PymerDataError(
            f"the fixed-effects model matrix is column rank deficient (rank(X) = {len(keep)} < {p} = p): "
            f"the fixed effects will be jointly unidentifiable ({', '.join(dropped)}; control "
            "check_rankX='stop.deficient')")
    if dropped and action != "silent.drop.cols":
        k = len(dropped)
        warn(
            f"fixed-effect model matrix is rank deficient so dropping {k} column{'s' if k > 1 else ''}"
            f" / coefficient{'s' if k > 1 else ''} ({', '.join(dropped)})",
            RankDeficiencyWarning)
    return dropped


def fixed_effects_design(mf, weights=None, control=None, order="F", gram=None):
    """The fixed-effects model matrix every model fits: aliased columns dropped (judged
    on the rows with positive prior weight, as lme4 judges them) and lme4's scale check,
    with control's check_rankX and check_scaleX actions. Returns (X, kept names, dropped
    names); X in memory order `order` ("F" or "C": then the model frame's own matrix
    when every column is kept, not a copy: read it only). ``gram``: the model frame's
    X'X (unweighted models), when the caller has it."""
    control = control or {}
    Xw = mf.X if weights is None else mf.X[np.asarray(weights) > 0]
    keep, dropped = drop_aliased_columns(Xw, mf.fixef_names,
                                         action=control.get("check_rankX", "message+drop.cols"),
                                         gram=gram if weights is None else None)
    if order == "C":
        X = np.ascontiguousarray(mf.X if len(keep) == mf.X.shape[1] else mf.X[:, keep], dtype=np.float64)
    else:
        X = np.asfortranarray(mf.X[:, keep])
    names = [mf.fixef_names[i] for i in keep]
    check_scale_x(X, names, action=control.get("check_scaleX", "warning"))
    return X, names, dropped


def check_scale_x(X, names, tol=1e3, action="warning"):
    """lme4's check.scaleX: warn when predictors are on very different scales.

    The check looks at the columns of the fixed-effects model matrix that are
    not 0/1 indicators (the intercept and treatment-coded factors are left out).
    It warns when the standard deviations of two such columns differ by a factor
    above `tol`, or when one standard deviation is above `tol` or below 1/`tol`.
    Returns the names of the offending columns (empty when all is well). Columns
    whose squares overflow (or underflow) double precision are an error.
    """
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    if n == 0 or X.shape[1] == 0:
        return []
    # values whose squares cannot be formed are an error, not a warning (the sums of squares
    # are only formed when the largest values could overflow or the smallest underflow)
    big, binary = column_summary(X)
    if not (float(big.max()) * math.sqrt(n) < 1e150 and float(big.min()) >= _TINY):
        with np.errstate(over="ignore"):
            over = ~np.isfinite(np.einsum("ij,ij->j", X, X))
        for j in np.flatnonzero(over | ((big > 0) & (big < _TINY))):
            raise PymerDataError(
                f"predictor column '{names[j]}' has values up to {big[j]:.3g}, whose squares "
                f"{'overflow' if over[j] else 'underflow'} double precision; {_rescale_hint(big[j])}")
    if n < 2:
        return []
    cont = ~binary
    if not cont.any():
        return []
    sd = X[:, cont].std(axis=0, ddof=1)
    cnames = [nm for nm, c in zip(names, cont.tolist()) if c]
    if float(sd.min()) > 0.0:
        logsd = np.log(sd).tolist()
    else:
        with np.errstate(divide="ignore"):
            logsd = np.log(sd).tolist()
    lt = float(np.log(tol))
    bad = [nm for nm, v in zip(cnames, logsd) if not abs(v) <= lt]
    if all(math.isfinite(v) for v in logsd) and max(logsd) - min(logsd) > lt:
        bad += [cnames[logsd.index(max(logsd))], cnames[logsd.index(min(logsd))]]
    bad = list(dict.fromkeys(bad))
    if bad and action != "ignore":
        shown = ", ".join(f"{nm} (sd {s:.3g})" for nm, s in zip(cnames, sd) if nm in bad)
        if action == "stop":
            raise PymerDataError("Some predictor variables are on very different scales: consider "
                                 f"rescaling ({shown}; control check_scaleX='stop')")
        warn("Some predictor variables are on very different scales: consider rescaling"
             f" ({shown})", PredictorScaleWarning)
    return bad


# =============================================================================
# GLMM checks (families, links, responses, nAGQ)
# =============================================================================

def check_family(family, known=None) -> str:
    """The family's name as R spells it, or an error that suggests close names.

    `family` is a name ("binomial", "Gamma", ...); `known` the accepted names
    (default: R's, in :data:`FAMILY_LINKS`). A case-only difference is accepted
    ("gamma" -> "Gamma").
    """
    known = list(FAMILY_LINKS) if known is None else list(known)
    if not isinstance(family, str):
        raise TypeError(f"family must be a name such as 'binomial' or a family object, "
                        f"not {type(family).__name__}")
    if family in known:
        return family
    low = {k.lower(): k for k in known}
    alias = family.lower().replace("_", ".")
    if alias in low:
        return low[alias]
    sugg = suggest_names(family, known)
    msg = f"family '{family}' not recognized"
    if sugg:
        msg += "; did you mean " + " or ".join(f"'{s}'" for s in sugg) + "?"
    else:
        msg += "; available families are " + ", ".join(f"'{k}'" for k in known)
    raise ValueError(msg)


def check_response_not_constant(y, *, name="response", action="stop"):
    """lme4's check.response.not.const (glmer): a constant response is an error (or,
    as control's action says, a warning or nothing)."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 2:
        with np.errstate(invalid="ignore", divide="ignore"):
            tot = y.sum(axis=1)
            y = np.where(tot > 0, y[:, 0] / np.where(tot > 0, tot, 1), np.nan)
        y = y[np.isfinite(y)]
    if y.size and np.ptp(y) == 0:
        check_action(action, f"Response is constant: every value of '{name}' is {y[0]:g}", ResponseWarning)


def check_binomial_response(y, weights=None, *, name="response"):
    """A binomial response as R's binomial() reads it.

    One column: proportions or 0/1 in [0, 1] (R: "y values must be 0 <= y <= 1");
    with prior weights (number of trials) the successes y*w should be whole
    numbers (R warns "non-integer #successes in a binomial glm!"). Two columns
    (``cbind(successes, failures)``): non-negative counts (R warns for
    non-integer counts).
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 2:
        if y.shape[1] != 2:
            raise PymerDataError(f"binomial response '{name}' must have 2 columns "
                                 f"(successes, failures), not {y.shape[1]}")
        neg = (y < 0).any(axis=1)
        if neg.any():
            i = int(np.flatnonzero(neg)[0])
            raise PymerDataError(f"negative counts in the binomial response '{name}' "
                                 f"({int(neg.sum())} rows, first at row {i}: {y[i, 0]:g}, {y[i, 1]:g})")
        if np.any(y != np.round(y)):
            warn(f"non-integer counts in a binomial glm! (response '{name}')",
                 ResponseWarning)
        return
    if y.ndim != 1:
        raise PymerDataError(f"binomial response '{name}' must be one column or cbind(successes, failures)")
    out = (y < 0) | (y > 1)
    if out.any():
        raise PymerDataError(
            f"y values must be 0 <= y <= 1: binomial response '{name}' has {int(out.sum())} "
            f"value(s) outside [0, 1] (first at {_first(out, y)}); use 0/1, proportions with "
            "weights=, a two-level factor or cbind(successes, failures)")
    if weights is not None:
        s = y * np.asarray(weights, dtype=np.float64)
        if np.any(np.abs(s - np.round(s)) > 1e-3):
            warn(f"non-integer #successes in a binomial glm! (response '{name}')",
                 ResponseWarning)


def check_count_response(y, *, family="poisson", name="response"):
    """A Poisson or negative binomial response: counts >= 0 (R: "negative values
    not allowed for the 'Poisson' family"); non-integer counts warn."""
    y = np.asarray(y, dtype=np.float64)
    label = "'Poisson'" if family == "poisson" else "negative binomial"
    neg = y < 0
    if neg.any():
        k = int(neg.sum())
        raise PymerDataError(f"negative values not allowed for the {label} family: response "
                             f"'{name}' has {k} negative value{'s' if k > 1 else ''} (first at "
                             f"{_first(neg, y)})")
    frac = y != np.round(y)
    if frac.any():
        warn(f"non-integer values in the {label} response '{name}' (first at "
             f"{_first(frac, y)})", ResponseWarning)


def check_positive_response(y, *, family="Gamma", name="response"):
    """A Gamma or inverse Gaussian response: values > 0, with R's messages."""
    y = np.asarray(y, dtype=np.float64)
    bad = y <= 0
    if bad.any():
        if family == "Gamma":
            head = "non-positive values not allowed for the 'Gamma' family"
        else:
            head = f"positive values only are allowed for the '{family}' family"
        k = int(bad.sum())
        raise PymerDataError(f"{head}: response '{name}' has {k} value{'s' if k > 1 else ''} <= 0 "
                             f"(first at {_first(bad, y)})")


def check_family_response(family: str, y, weights=None, *, name="response"):
    """The response checks of `family` (R's name), as R's family initializers do them."""
    if family == "binomial":
        check_binomial_response(y, weights, name=name)
    elif family in ("poisson", "negative.binomial"):
        check_count_response(y, family=family, name=name)
    elif family in ("Gamma", "inverse.gaussian"):
        check_positive_response(y, family=family, name=name)


def check_nagq(nAGQ, re=None) -> int:
    """nAGQ: a whole number >= 0; above 1 only for one scalar random-effects term (lme4's rule).

    With ``re=None`` only the value itself is checked (before the model is built)."""
    if isinstance(nAGQ, bool) or not isinstance(nAGQ, (numbers.Integral, numbers.Real)):
        raise TypeError(f"nAGQ must be a whole number, not {type(nAGQ).__name__}")
    if not float(nAGQ).is_integer() or nAGQ < 0:
        raise ValueError(f"nAGQ must be a whole number >= 0, not {nAGQ!r}")
    nAGQ = int(nAGQ) if isinstance(nAGQ, numbers.Integral) else int(float(nAGQ))
    if nAGQ > 1 and re is not None:
        terms = list(re.terms)
        if len(terms) != 1 or terms[0].k != 1:
            shown = " + ".join(_term_label(t) for t in terms)
            raise ValueError("nAGQ > 1 is only available for models with a single, scalar "
                             f"random-effects term (this model has {shown})")
    return nAGQ


def check_family_object(family):
    """A family object as the fit needs it: a link the family accepts (the attribute
    may have been changed after construction) and, for the negative binomial, a
    finite theta > 0 (R stops later with "PIRLS loop resulted in NaN value")."""
    check_link(family.name, family.link)
    if family.name == "negative.binomial":
        th = family.theta
        if th is None or isinstance(th, bool) or not isinstance(th, numbers.Real) \
                or not np.isfinite(th) or th <= 0:
            raise ValueError(f"the negative binomial family needs a finite theta > 0, not {th!r}")


def check_fitted_boundary(family, mu, prior_weights):
    """Warn as R's glm.fit warns when fitted means reach the edge of the family's range.

    Binomial probabilities within 10 machine epsilons of 0 or 1, or Poisson rates
    within 10 epsilons of 0, at rows of positive weight: the sign of complete or
    quasi-complete separation, where some fixed effects have no finite maximum
    likelihood estimate (lme4 then stops with a PIRLS error or reports huge
    estimates and standard errors). Returns the number of such rows.
    """
    if family.name not in ("binomial", "poisson"):
        return 0
    mu = np.asarray(mu, dtype=np.float64)
    pos = np.asarray(prior_weights, dtype=np.float64) > 0
    eps = 10 * np.finfo(float).eps
    if family.name == "binomial":
        edge = pos & ((mu < eps) | (mu > 1 - eps))
        what = "fitted probabilities numerically 0 or 1 occurred"
    else:
        edge = pos & (mu < eps)
        what = "fitted rates numerically 0 occurred"
    k = int(edge.sum())
    if k:
        warn(
            f"{what} ({k} of {int(pos.sum())} observations): complete or quasi-complete separation: "
            "some fixed effects (or variance parameters) have no finite estimate, and their estimates "
            "and standard errors are arbitrarily large", ConvergenceWarning)
    return k


# =============================================================================
# control= settings
# =============================================================================

# lme4's lmerControl()/glmerControl() with its dots as underscores (check.nobs.vs.nlev ->
# check_nobs_vs_nlev); pymer's own optimizer tolerances sit beside them (and in optCtrl).

_ACTIONS = ("ignore", "warning", "message", "stop")
_RANKX = ("message+drop.cols", "silent.drop.cols", "warn+drop.cols", "stop.deficient")
#: optimizer names: lme4's (and NLopt's) spellings -> pymer.optimize's
OPTIMIZER_NAMES = {"bobyqa": "bobyqa", "nloptwrap": "bobyqa", "nelder_mead": "nelder_mead",
                   "neldermead": "nelder_mead", "lbfgsb": "lbfgsb", "l_bfgs_b": "lbfgsb"}

#: every control setting: name -> (default for lmer, default for glmer, what it does);
#: None as a default: the setting does not exist for that function (as in lme4)
CONTROL = {
    "optimizer": ("bobyqa", ("bobyqa", "bobyqa"),
                  "'bobyqa' (lme4's nloptwrap), 'nelder_mead' or 'lbfgsb' (SciPy's L-BFGS-B); "
                  "glmer: one name or one per stage, e.g. ('bobyqa', 'nelder_mead')"),
    "restart_edge": (True, False, "restart the optimizer when theta ends on its boundary and "
                     "moving off it lowers the objective"),
    "boundary_tol": (1e-5, 1e-5, "theta elements this close to their bound are tried on it "
                     "(0: no boundary check)"),
    "calc_derivs": (True, True, "compute the gradient and Hessian at the optimum (for the "
                    "convergence checks and, glmer, vcov)"),
    "check_nlev_gtr_1": ("stop", "stop", "every grouping factor has > 1 level"),
    "check_nobs_vs_nlev": ("stop", "stop", "levels of a grouping factor < observations (glmer: <=)"),
    "check_nobs_vs_nRE": ("stop", "stop", "random effects of a term < observations (glmer: <=)"),
    "check_rankX": ("message+drop.cols", "message+drop.cols",
                    "rank-deficient X: " + ", ".join(_RANKX)),
    "check_scaleX": ("warning", "warning", "predictors on very different scales"),
    "check_response_not_const": (None, "stop", "a constant response"),
    "check_conv_grad": ({"action": "warning", "tol": 2e-3}, {"action": "warning", "tol": 2e-3},
                        "scaled gradient at the optimum: an action, or {'action':, 'tol':}"),
    "check_conv_singular": ({"action": "message", "tol": 1e-4}, {"action": "message", "tol": 1e-4},
                            "singular fit: an action, or {'action':, 'tol':}"),
    "check_conv_hess": ({"action": "warning", "tol": 1e-6}, {"action": "warning", "tol": 1e-6},
                        "Hessian's eigenvalues at the optimum: an action, or {'action':, 'tol':}"),
    "check_conv": (True, True, "False: none of the check_conv_* checks"),
    "tolPwrss": (None, 1e-10, "PIRLS convergence tolerance (on the step in u; lme4's is on pwrss)"),
    "nAGQ0initStep": (None, True, "glmer: a first optimization with nAGQ = 0 to start from"),
    "optCtrl": ({}, {}, "optimizer settings: maxeval (or maxfun), ftol_abs, xtol_abs, ftol_rel"),
    "ftol_abs": (1e-8, None, "absolute tolerance on the criterion (NLopt's ftol_abs)"),
    "xtol_abs": (1e-8, None, "absolute tolerance on the parameters (NLopt's xtol_abs)"),
    "ftol_rel": (0.0, None, "relative tolerance on the criterion (NLopt's ftol_rel)"),
    "maxeval": (100000, 100000, "maximum number of criterion evaluations"),
}
_OPTCTRL = {"maxeval": "maxeval", "maxfun": "maxeval", "ftol_abs": "ftol_abs",
            "xtol_abs": "xtol_abs", "ftol_rel": "ftol_rel"}
#: the settings each function reads (kept for messages and the docs)
LMER_CONTROL = {k: v[2] for k, v in CONTROL.items() if v[0] is not None}
GLMER_CONTROL = {k: v[2] for k, v in CONTROL.items() if v[1] is not None or k in ("ftol_abs", "xtol_abs", "ftol_rel")}


def _action(key, value, allowed=_ACTIONS):
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"control['{key}'] must be one of {', '.join(repr(a) for a in allowed)}, "
                         f"not {value!r}")
    return value


def _number(key, value, integer=False):
    ok = not isinstance(value, bool) and isinstance(value, numbers.Integral if integer else numbers.Real)
    if not ok or not np.isfinite(value) or value < (1 if integer else 0):
        raise ValueError(f"control['{key}'] must be a {'whole number >= 1' if integer else 'finite number >= 0'}"
                         f", not {value!r}")
    return int(value) if integer else float(value)


def _optimizer_name(value, key="optimizer") -> str:
    name = str(value).lower().replace("-", "_") if isinstance(value, str) else None
    if name not in OPTIMIZER_NAMES:
        raise ValueError(f"unknown optimizer {value!r} in {key}; choose 'bobyqa' (or 'nloptwrap'), "
                         "'nelder_mead' or 'lbfgsb'")
    return OPTIMIZER_NAMES[name]


def _check_value(key, value, glmer):
    if key == "optimizer":
        if isinstance(value, (tuple, list)):
            if not glmer and len(value) != 1 or glmer and len(value) not in (1, 2):
                what = "one or two names (one per stage)" if glmer else "one name"
                raise ValueError(f"control['optimizer'] takes {what}, not {len(value)}: {value!r}")
            names = tuple(_optimizer_name(v) for v in value)
        else:
            names = (_optimizer_name(value),)
        if glmer:
            return names * 2 if len(names) == 1 else names
        return names[0]
    if key in ("restart_edge", "calc_derivs", "check_conv", "nAGQ0initStep"):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"control['{key}'] must be True or False, not {value!r}")
        return bool(value)
    if key in ("boundary_tol", "tolPwrss", "ftol_abs", "xtol_abs", "ftol_rel"):
        return _number(key, value)
    if key == "maxeval":
        return _number(key, value, integer=True)
    if key == "check_rankX":
        return _action(key, value, _RANKX)
    if key.startswith("check_conv_"):
        if isinstance(value, Mapping):
            extra = set(value) - {"action", "tol"}
            if extra:
                raise ValueError(f"control['{key}'] takes 'action' and 'tol', not {sorted(extra)}")
            out = dict(CONTROL[key][0])
            out.update(value)
            return {"action": _action(key, out["action"]), "tol": _number(key, out["tol"])}
        return {"action": _action(key, value), "tol": CONTROL[key][0]["tol"]}
    if key == "optCtrl":
        if not isinstance(value, Mapping):
            raise TypeError(f"control['optCtrl'] must be a dict, not {type(value).__name__}")
        out = {}
        for k, v in value.items():
            if k not in _OPTCTRL:
                raise ValueError(f"unknown optCtrl setting '{k}' (known: {', '.join(_OPTCTRL)})")
            out[_OPTCTRL[k]] = _check_value(_OPTCTRL[k], v, glmer)
        return out
    return _action(key, value)


def check_control(control, allowed=None, fun="lmer") -> dict:
    """``control=`` as lme4's lmerControl()/glmerControl(): every setting checked and the
    others filled with their defaults (see :data:`CONTROL`).

    lme4 stops on an unknown setting ("unused argument"); so does pymer, naming the
    key and suggesting close names. optCtrl's settings are merged into the top level.
    """
    glmer = fun != "lmer"
    allowed = (GLMER_CONTROL if glmer else LMER_CONTROL) if allowed is None else allowed
    if control is None:
        control = {}
    if not isinstance(control, Mapping):
        raise TypeError(f"control must be a dict of settings ({', '.join(allowed)}), "
                        f"not {type(control).__name__}")
    out = {k: CONTROL[k][1 if glmer else 0] for k in allowed}
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in out.items() if v is not None}
    for key, value in control.items():
        if key not in allowed:
            alias = str(key).replace(".", "_")
            sugg = [alias] if alias in allowed else suggest_names(str(key), list(allowed))
            hint = ("; did you mean " + " or ".join(f"'{x}'" for x in sugg) + "?") if sugg else ""
            raise ValueError(f"unknown control setting '{key}' for {fun}(){hint} "
                             f"(known settings: {', '.join(allowed)})")
        out[key] = _check_value(key, value, glmer)
    opt_ctrl = out.pop("optCtrl", {})
    assert isinstance(opt_ctrl, dict)          # the default or _check_value's dict
    out.update(opt_ctrl)
    return out


def check_action(action, message, category=UserWarning, *, error=PymerDataError):
    """Carry out a check's action: "stop" raises `error`, "warning"/"message" warn (at the
    caller's line), "ignore" does nothing."""
    if action == "stop":
        raise error(message)
    if action in ("warning", "message"):
        warn(message, category)


def filter_conv_messages(messages, control):
    """The convergence messages that the check_conv_grad / check_conv_hess actions keep
    ("stop" raises a ConvergenceError-like PymerDataError on the first)."""
    if not control.get("check_conv", True):
        return []
    out = []
    for m in messages:
        key = "check_conv_grad" if ("grad" in m and "Hessian" not in m) else "check_conv_hess"
        action = control.get(key, {"action": "warning"})["action"]
        if action == "stop":
            raise PymerDataError(f"{m} (control {key}='stop')")
        if action != "ignore":
            out.append(m)
    return out


def warn_singular(re, theta, ctl):
    """lme4's check.conv.singular: a singular fit (``re.is_singular(theta)``) is reported
    (a SingularFitWarning for lme4's message), ignored or an error, as the control says."""
    sing = ctl.get("check_conv_singular", {"action": "message", "tol": 1e-4})
    if ctl.get("check_conv", True) and sing["action"] != "ignore" and re.is_singular(theta, tol=sing["tol"]):
        check_action(sing["action"], "boundary (singular) fit: see help('isSingular')", SingularFitWarning)
