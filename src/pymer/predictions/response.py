"""Adjusted predictions with confidence or prediction intervals, as ggeffects'
``predict_response()`` (ggpredict / ggemmeans) describes them."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any
if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
import itertools

import numpy as np
import pandas as pd
from scipy import stats

from .grid import ModelView, focal_values
from .terms import parse_terms

MARGINS = ("mean_reference", "marginalmeans", "empirical")
TYPES = ("fixed", "random")


class PredictedResponse(pd.DataFrame):
    """ggeffects' table: ``x, predicted, std.error, conf.low, conf.high, group`` (and
    ``facet`` with three terms); ``.plot()`` draws it."""

    _metadata = ["info"]

    @property
    def _constructor(self):
        return PredictedResponse

    def plot(self, partial_residuals: bool = False, ci: bool = True, ax: Axes | None = None,
             figsize: tuple[float, float] | None = None) -> Figure:
        """Lines (or points for a factor) with confidence ribbons, one color per group and
        one panel per facet; `partial_residuals` adds the observations' partial residuals.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from .plot import plot_predictions
        return plot_predictions(self, partial_residuals=partial_residuals, ci=ci, ax=ax,
                                figsize=figsize)


def _x_rows(view, grid, names):
    """Model matrix (population level) of the grid rows, with the offset."""
    nd = view.mf.new_data(grid, include_random=False)
    keep = [list(view.mf.fixef_names).index(nm) for nm in view.m.fixef.index]
    X = np.asarray(nd.X, dtype=np.float64)[:, keep]
    off = np.zeros(len(grid)) if nd.offset is None else np.asarray(nd.offset, dtype=np.float64)
    return X, off


def _quantile(view, level):
    """t quantile with the residual df for linear models (nobs minus logLik's parameters for
    lmer, df.residual for lm); normal otherwise."""
    m = view.m
    if view.is_linear:
        if hasattr(m, "df_residual") and not hasattr(m, "theta"):
            df = m.df_residual
        else:
            df = m.nobs - m.df
        return float(stats.t.ppf((1 + level) / 2, df))
    return float(stats.norm.ppf((1 + level) / 2))


def _residual_variance(view) -> float:
    """sigma^2 of the fit (1 for families without a dispersion): what type="random" adds."""
    fam = getattr(view.m, "family", None)
    if fam is not None and not fam.has_dispersion:
        return 1.0
    return float(view.m.sigma) ** 2


def _grid(view, focal, values, margin):
    """Rows of the focal grid (x slowest, facet fastest) as a DataFrame of focal columns."""
    combos = list(itertools.product(*[range(len(v)) for v, _ in values]))
    cols = {}
    for j, (t, (vals, is_fac)) in enumerate(zip(focal, values)):
        idx = [c[j] for c in combos]
        if is_fac:
            cols[t.name] = view.factor_values(t.name, [vals[i] for i in idx])
        else:
            cols[t.name] = np.asarray(vals, dtype=np.float64)[idx]
    return pd.DataFrame(cols), combos


def predict_response(m: Any, terms: str | list[str], margin: str = "mean_reference", type: str = "fixed",
                     ci_level: float = 0.95) -> PredictedResponse:
    """Adjusted predictions of a fit at the values of up to three focal terms (ggeffects).

    Parameters
    ----------
    m : fitted model
        lmer, glmer, glmer_nb, lm or glm fit.
    terms : str or list of str
        Focal terms in ggeffects' syntax: ``"x"``, ``"x [-8, -4, 0, 4, 8]"``,
        ``"x [meansd]"``, ``"x [minmax]"``, ``"x [quart]"``, ``"f [a, b]"``,
        ``"x [2:6 by=2]"``. The first is the x axis, the second the groups, the third
        the facets. A numeric first term without brackets gets round values over its
        range (all values when there are at most ten whole numbers); numeric second
        and third terms the mean and mean +/- 1 SD.
    margin : {"mean_reference", "marginalmeans", "empirical"}
        The non-focal variables at their mean (numeric) and reference level (factors)
        (ggpredict); numeric at the mean and factors averaged over their levels with equal
        weights, on the link scale (ggemmeans); or the predictions averaged over the
        observed data with the focal terms set (the "counterfactual" average; its
        standard error is the delta-method one on the response scale).
    type : {"fixed", "random"}
        Confidence intervals from the fixed effects' covariance, or prediction
        intervals that add the residual variance sigma^2 (as ggeffects 1.2.0 does:
        1 for binomial, Poisson and negative binomial fits) on the link scale.
    ci_level : float

    Returns
    -------
    PredictedResponse
        A DataFrame with ggeffects' columns ``x, predicted, std.error, conf.low,
        conf.high, group`` (and ``facet``). ``std.error`` is on the link scale;
        predictions and intervals are on the response scale.
    """
    if margin not in MARGINS:
        raise ValueError(f"margin must be one of {MARGINS}, not {margin!r}")
    if type not in TYPES:
        raise ValueError(f"type must be 'fixed' or 'random', not {type!r}")
    if not (isinstance(ci_level, (float, int)) and 0 < ci_level < 1):
        raise ValueError(f"ci_level must be a number between 0 and 1, not {ci_level!r}")
    focal = parse_terms(terms)
    view = ModelView(m)
    values = [focal_values(view, t, i) for i, t in enumerate(focal)]
    grid, combos = _grid(view, focal, values, margin)
    beta = np.asarray(m.fixef, dtype=np.float64)
    V = np.asarray(m.vcov, dtype=np.float64)
    others = [c for c in view.columns if c not in grid.columns]
    # ggemmeans' intervals use the normal quantile, also for linear mixed models
    q = float(stats.norm.ppf((1 + ci_level) / 2)) if margin == "marginalmeans" \
        else _quantile(view, ci_level)
    if margin == "empirical":
        pred, se = _empirical(view, grid, beta, V)
        lo, hi = pred - q * se, pred + q * se
    else:
        X, off = _averaged_rows(view, grid, others, margin)
        eta = X @ beta + off
        se = np.sqrt(np.einsum("ij,jk,ik->i", X, V, X))
        if type == "random":
            se = np.sqrt(se ** 2 + _residual_variance(view))
        pred = view.linkinv(eta)
        lo, hi = view.linkinv(eta - q * se), view.linkinv(eta + q * se)
        lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    out = {"x": _column(values[0], [c[0] for c in combos]), "predicted": pred, "std.error": se,
           "conf.low": lo, "conf.high": hi}
    out["group"] = (_labels(values[1], [c[1] for c in combos]) if len(focal) > 1
                    else ["1"] * len(combos))
    if len(focal) > 2:
        out["facet"] = _labels(values[2], [c[2] for c in combos])
    res = PredictedResponse(out)
    res.info = {"model": m, "terms": [t.name for t in focal], "margin": margin, "type": type,
                "ci_level": ci_level, "constants": {c: view.typical(c, margin) for c in others},
                "x_is_factor": values[0][1]}
    return res


def _column(vals_fac, idx):
    vals, is_fac = vals_fac
    if is_fac:
        return pd.Categorical([vals[i] for i in idx], categories=list(vals))
    return np.asarray(vals, dtype=np.float64)[idx]


def _labels(vals_fac, idx):
    vals, is_fac = vals_fac
    labs = list(vals) if is_fac else [f"{v:g}" for v in vals]
    return pd.Categorical([labs[i] for i in idx], categories=labs)


def _averaged_rows(view, grid, others, margin):
    """Model matrix rows of the grid with the non-focal variables held constant, or
    (marginal means) averaged with equal weights over the levels of the non-focal factors."""
    g = grid.copy()
    spread = [c for c in others if c in view.factors] if margin == "marginalmeans" else []
    for c in others:
        if c not in spread:
            g[c] = [view.typical(c, margin)] * len(g)
    if not spread:
        return _x_rows(view, g, None)
    levels = [view.factors[c] for c in spread]
    combos = list(itertools.product(*levels))
    k = len(combos)
    big = g.loc[g.index.repeat(k)].reset_index(drop=True)
    for j, c in enumerate(spread):
        big[c] = view.factor_values(c, [combo[j] for combo in combos] * len(g))
    X, off = _x_rows(view, big, None)
    n = len(g)
    return X.reshape(n, k, -1).mean(axis=1), off.reshape(n, k).mean(axis=1)


def _empirical(view, grid, beta, V):
    """Average response-scale prediction over the observed rows, focal terms set; the
    delta-method standard error of that average."""
    data = view.data[view.columns]
    n = len(data)
    preds, ses = [], []
    h = 1e-6
    for i in range(len(grid)):
        d = data.copy()
        for c in grid.columns:
            d[c] = [grid[c].iloc[i]] * n if not isinstance(grid[c].dtype, pd.CategoricalDtype) \
                else pd.Categorical([grid[c].iloc[i]] * n, categories=grid[c].cat.categories)
        X, off = _x_rows(view, d, None)
        eta = X @ beta + off
        mu = view.linkinv(eta)
        dmu = (view.linkinv(eta + h) - view.linkinv(eta - h)) / (2 * h)
        g = (dmu[:, None] * X).mean(axis=0)
        preds.append(mu.mean())
        ses.append(np.sqrt(g @ V @ g))
    return np.array(preds), np.array(ses)
