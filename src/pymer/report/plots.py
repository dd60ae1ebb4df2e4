"""Diagnostic and effect plots of fitted mixed models (matplotlib; ``pip install pymer[plot]``).

Every function returns a :class:`matplotlib.figure.Figure` (save it with
``fig.savefig("x.png")``; in a notebook it shows itself)::

    >>> from pymer import plots
    >>> plots.ranef_plot(m)                     # caterpillar plot of the conditional modes
    >>> plots.residual_plot(m)                  # residuals vs fitted, normal QQ plots
    >>> plots.effects_plot(m, "Days")           # population-level prediction with a band
    >>> plots.profile_plot(m.profile())         # profile zeta of each parameter

Figures are made with matplotlib's object interface (``Figure`` objects, not
``pyplot``), so no window opens and nothing global changes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any
from numpy.typing import ArrayLike
if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
import numpy as np
import pandas as pd
from scipy import stats

from ..call import fitted_rows
from ..families import LINKS

__all__ = ["ranef_plot", "residual_plot", "effects_plot", "profile_plot", "qq_points"]


def _figure(nrows, ncols, panel=(4.0, 3.2), figsize=None, **kw):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("pymer's plots need matplotlib: pip install 'pymer[plot]' "
                          "(or pip install matplotlib)") from None
    if figsize is None:
        figsize = (panel[0] * ncols, panel[1] * nrows)
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def _z(level):
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, not {level!r}")
    return float(stats.norm.ppf(0.5 + level / 2))


# ---- random effects -------------------------------------------------------------

def ranef_plot(m: Any, group: str | None = None, *, level: float = 0.95, terms: list[str] | None = None,
               sort: bool = True, max_labels: int = 40, figsize: tuple[float, float] | None = None) -> Figure:
    """Caterpillar plot: conditional modes of the random effects with prediction intervals.

    One panel per grouping factor and random-effects term; each level is a
    point at its conditional mode with a horizontal interval of
    ``± z * conditional SD`` (from ``m.condvar()``), as lme4's
    ``dotplot(ranef(m, condVar = TRUE))``.

    Parameters
    ----------
    m : fitted model
    group : str or list of str, optional
        Grouping factors to show (default: all).
    level : float, default 0.95
        Coverage of the intervals.
    terms : list of str, optional
        Random-effects terms to show (e.g. ``["(Intercept)"]``); default all.
    sort : bool, default True
        Order the levels by their conditional mode on the grouping factor's first
        shown term (the intercept, usually); every panel of that factor keeps this one
        order, as lattice's dotplot of lme4's ranef does, so a row is one level.
    max_labels : int, default 40
        Label the levels on the y axis when a factor has at most this many.

    Returns
    -------
    matplotlib.figure.Figure
    """
    z = _z(level)
    tab = m.ranef_table(condvar=True)
    groups = list(dict.fromkeys(tab["grpvar"]))
    if group is not None:
        want = [group] if isinstance(group, str) else list(group)
        unknown = [g for g in want if g not in groups]
        if unknown:
            raise ValueError(f"no grouping factor {unknown[0]!r}; the model has {groups}")
        groups = want
    panels = []
    for g in groups:
        sub = tab[tab["grpvar"] == g]
        for t in dict.fromkeys(sub["term"]):
            if terms is None or t in terms:
                panels.append((g, t, sub[sub["term"] == t]))
    if not panels:
        raise ValueError(f"no random-effects terms among {terms!r}")
    ncols = max(sum(1 for p in panels if p[0] == g) for g in groups)
    nrows = len(groups)
    nlev = max(len(p[2]) for p in panels)
    height = min(max(2.5, 0.18 * min(nlev, max_labels) + 1.2), 12.0)
    fig, axes = _figure(nrows, ncols, panel=(4.0, height), figsize=figsize)
    used = set()
    for g_i, g in enumerate(groups):
        cols = [p for p in panels if p[0] == g]
        # one level order for all panels of the factor: by the first shown term's modes
        first = cols[0][2]
        first_labels = first["grp"].astype(str).to_numpy()
        if sort:
            first_labels = first_labels[np.argsort(first["condval"].to_numpy(dtype=float), kind="stable")]
        row_of = {lab: i for i, lab in enumerate(first_labels)}
        for c_i, (_, t, d) in enumerate(cols):
            ax = axes[g_i, c_i]
            used.add((g_i, c_i))
            est = d["condval"].to_numpy(dtype=float)
            sd = d["condsd"].to_numpy(dtype=float)
            labels = d["grp"].astype(str).to_numpy()
            order = np.argsort([row_of[lab] for lab in labels], kind="stable")
            y = np.arange(est.size)
            ax.axvline(0.0, color="0.6", lw=0.8, zorder=0)
            ax.hlines(y, (est - z * sd)[order], (est + z * sd)[order], color="C0", lw=1.2)
            ax.plot(est[order], y, "o", color="C0", ms=3.5)
            if est.size <= max_labels:
                ax.set_yticks(y, labels[order], fontsize=8)
            else:
                ax.set_yticks([])
                ax.set_ylabel(f"{est.size} levels")
            ax.set_ylim(-0.7, est.size - 0.3)
            ax.set_title(f"{g}: {t}", fontsize=10)
            ax.set_xlabel("conditional mode")
    for r in range(nrows):
        for c in range(ncols):
            if (r, c) not in used:
                axes[r, c].set_visible(False)
    fig.suptitle(f"Random effects with {level:.0%} intervals", fontsize=11)
    return fig


# ---- residuals ---------------------------------------------------------------------

def _ppoints(n):
    """R's ppoints(n): plotting positions for QQ plots."""
    a = 3 / 8 if n <= 10 else 0.5
    return (np.arange(1, n + 1) - a) / (n + 1 - 2 * a)


def qq_points(x: ArrayLike) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Theoretical normal quantiles and sorted sample values (as R's qqnorm), plus qqline's (intercept, slope)."""
    x = np.sort(np.asarray(x, dtype=float)[np.isfinite(x)])
    theo = stats.norm.ppf(_ppoints(x.size))
    q1, q3 = np.quantile(x, [0.25, 0.75]) if x.size else (0.0, 0.0)
    t1, t3 = stats.norm.ppf([0.25, 0.75])
    slope = (q3 - q1) / (t3 - t1)
    return theo, x, (q1 - slope * t1, slope)


def _qq(ax, x, title):
    theo, samp, (a, b) = qq_points(x)
    ax.plot(theo, samp, "o", ms=3, color="C0", alpha=0.8)
    if theo.size:
        ax.axline((0.0, a), slope=b, color="C3", lw=1)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("theoretical quantiles")
    ax.set_ylabel("sample quantiles")


def _residuals(m):
    """Pearson residuals (scaled for models with a scale) and the name to show."""
    scaled = bool(getattr(m, "is_linear", False))
    try:
        return np.asarray(m.residuals(type="pearson", scaled=scaled), dtype=float), \
            "scaled Pearson residuals" if scaled else "Pearson residuals"
    except TypeError:
        return np.asarray(m.residuals(), dtype=float), "residuals"


def residual_plot(m: Any, *, ranef: bool = True, figsize: tuple[float, float] | None = None) -> Figure:
    """Residuals against fitted values, and normal QQ plots of residuals and random effects.

    Panels: (1) Pearson residuals (scaled by sigma for LMMs) against the fitted
    values, with a zero line; (2) their normal QQ plot with R's ``qqline``;
    (3...) with ``ranef=True``, a normal QQ plot of the conditional modes of
    each random-effects term (as ``qqmath(ranef(m))``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    res, rname = _residuals(m)
    fitted = np.asarray(m.fitted, dtype=float)
    re_panels = []
    if ranef:
        for g, df in m.ranef.items():
            for t in df.columns:
                re_panels.append((f"{g}: {t}", df[t].to_numpy(dtype=float)))
    n = 2 + len(re_panels)
    ncols = min(3, n)
    nrows = -(-n // ncols)
    fig, axes = _figure(nrows, ncols, figsize=figsize)
    flat = axes.ravel()
    ax = flat[0]
    ax.plot(fitted, res, "o", ms=3, color="C0", alpha=0.7)
    ax.axhline(0.0, color="C3", lw=1)
    ax.set_xlabel("fitted values")
    ax.set_ylabel(rname)
    ax.set_title("Residuals vs fitted", fontsize=10)
    _qq(flat[1], res, f"Normal QQ: {rname}")
    for ax, (title, vals) in zip(flat[2:], re_panels):
        _qq(ax, vals, f"Normal QQ: {title}")
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig


# ---- effects ---------------------------------------------------------------------------

def _linkinv(m):
    fam = getattr(m, "family", None) or getattr(getattr(m, "model", None), "family", None)
    link = getattr(fam, "link", "identity") if fam is not None else "identity"
    if link not in LINKS:
        raise ValueError(f"effects_plot does not know the inverse of the {link!r} link")
    return LINKS[link].linkinv, link


def _is_numeric(s: pd.Series) -> bool:
    return (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
            and not isinstance(s.dtype, pd.CategoricalDtype))


def _typical(s: pd.Series, as_factor=False):
    """Numeric columns at their mean, factors (strings, categoricals, logicals) at their first level."""
    if _is_numeric(s) and not as_factor:
        return float(np.nanmean(s.to_numpy(dtype=float)))
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s.cat.categories[0]
    vals = s.dropna().unique()
    return sorted(vals, key=str)[0] if len(vals) else np.nan


def _population_eta(m, newdata):
    """X beta and its standard error for new rows, at the population level (no random effects)."""
    nd = m.model.mf.new_data(newdata, include_random=False)
    X = np.asarray(nd.X, dtype=float)
    names = list(m.model.mf.fixef_names)
    keep = [names.index(nm) for nm in m.fixef.index]
    X = X[:, keep]
    eta = X @ np.asarray(m.fixef, dtype=float)
    if getattr(nd, "offset", None) is not None:
        eta = eta + np.asarray(nd.offset, dtype=float)
    V = np.asarray(m.vcov, dtype=float)
    se = np.sqrt(np.einsum("ij,jk,ik->i", X, V, X))
    return eta, se


def effects_plot(m: Any, term: str, *, at: dict | None = None, level: float = 0.95, n: int = 100,
                 partial_residuals: bool = False, ax: Axes | None = None, figsize: tuple[float, float] | None = None) -> Figure:
    """Predicted response across one predictor at the population level, with a confidence band.

    The other predictors are held at typical values (numeric ones at their mean,
    factors at their first level; override with `at`). The band is
    ``eta ± z * se(eta)`` with ``se`` from ``m.vcov``, mapped through the inverse
    link for GLMMs. For a factor, each level gets a point with an interval.

    Parameters
    ----------
    m : fitted model
    term : str
        A column of the model's data (e.g. ``"Days"``, ``"species"``).
    at : dict, optional
        Values of other columns, e.g. ``{"species": "Spp2"}``.
    level : float, default 0.95
        Coverage of the band.
    n : int, default 100
        Points along a numeric predictor.
    partial_residuals : bool, default False
        Add partial residuals: the curve at each observation's value plus its
        working residual (on the link scale, then mapped through the inverse
        link), as the effects package draws them.
    ax : matplotlib Axes, optional
        Draw into this Axes (its figure is returned).

    Returns
    -------
    matplotlib.figure.Figure
    """
    z = _z(level)
    used = fitted_rows(getattr(m, "model", None), "effects_plot")
    if term not in used.columns:
        raise ValueError(f"{term!r} is not a column of the model's data ({list(used.columns)})")
    at = dict(at or {})
    base = {c: (at[c] if c in at else _typical(used[c], _used_as_factor(m, c)))
            for c in used.columns if c != term}
    x_obs = used[term]
    numeric = _is_numeric(x_obs) and not _used_as_factor(m, term)
    if _is_numeric(x_obs) and not numeric:            # factor(DNA): its observed values
        xs = np.asarray(sorted(x_obs.dropna().unique()))
    elif numeric:
        xs = np.linspace(np.nanmin(x_obs.to_numpy(dtype=float)), np.nanmax(x_obs.to_numpy(dtype=float)), n)
    elif isinstance(x_obs.dtype, pd.CategoricalDtype):
        xs = np.asarray(x_obs.cat.categories[x_obs.cat.categories.isin(x_obs.unique())])
    else:
        xs = np.asarray(sorted(x_obs.dropna().unique(), key=str), dtype=object)
    new = pd.DataFrame({c: [v] * len(xs) for c, v in base.items()})
    new[term] = pd.Categorical(xs, categories=x_obs.cat.categories) \
        if isinstance(x_obs.dtype, pd.CategoricalDtype) else xs
    eta, se = _population_eta(m, new)
    inv, link = _linkinv(m)
    fit, lo, hi = inv(eta), inv(eta - z * se), inv(eta + z * se)
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)      # decreasing links (inverse)

    if ax is None:
        fig, axes = _figure(1, 1, panel=(5.0, 3.8), figsize=figsize)
        ax = axes[0, 0]
    else:
        fig = ax.figure
    pos = np.arange(len(xs)) if not numeric else xs
    if partial_residuals:
        obs_base = pd.DataFrame({c: [v] * len(used) for c, v in base.items()})
        obs_base[term] = x_obs.to_numpy() if not isinstance(x_obs.dtype, pd.CategoricalDtype) \
            else pd.Categorical(x_obs, categories=x_obs.cat.categories)
        eta_i, _ = _population_eta(m, obs_base)
        wres = np.asarray(m.residuals(type="working"), dtype=float)
        pr = inv(eta_i + wres)
        if numeric:
            px = x_obs.to_numpy(dtype=float)
        else:
            lookup = {str(v): i for i, v in enumerate(xs)}
            jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(x_obs))
            px = np.array([lookup[str(v)] for v in x_obs]) + jitter
        ax.plot(px, pr, "o", ms=3, color="0.45", alpha=0.6, label="partial residuals")
    if numeric:
        ax.fill_between(xs, lo, hi, color="C0", alpha=0.25, lw=0, label=f"{level:.0%} confidence")
        ax.plot(xs, fit, color="C0", lw=2, label="population prediction")
    else:
        ax.errorbar(pos, fit, yerr=[fit - lo, hi - fit], fmt="o", color="C0", capsize=4,
                    label="population prediction")
        ax.set_xticks(pos, [str(v) for v in xs])
    ax.set_xlabel(term)
    resp = getattr(m.model.mf, "response_name", "response")
    ax.set_ylabel(resp if link == "identity" else f"{resp} (response scale)")
    held = ", ".join(f"{c}={v:.3g}" if isinstance(v, float) else f"{c}={v}"
                     for c, v in base.items() if c in _fixed_columns(m, used))
    ax.set_title(f"Effect of {term}" + (f"\n({held})" if held else ""), fontsize=10)
    if partial_residuals:
        ax.legend(fontsize=8, frameon=False)
    return fig


def _used_as_factor(m, term) -> bool:
    """Whether the formula wraps a numeric column in factor() / as.factor() / ordered()."""
    import re

    pat = r"\b(?:as\.)?(?:factor|ordered)\(\s*`?" + re.escape(term) + r"`?\s*[,)]"
    return re.search(pat, str(m.formula)) is not None


def _fixed_columns(m, data):
    """Data columns named in the fixed part of the formula (for the title)."""
    import re

    fixed = str(m.formula).split("~", 1)[-1]
    fixed = re.sub(r"\([^()]*\|[^()]*\)", " ", fixed)
    words = set(re.findall(r"[A-Za-z_.][A-Za-z0-9_.]*", fixed))
    return [c for c in data.columns if c in words]


# ---- profiles ----------------------------------------------------------------------------

def _profile_long(prof) -> pd.DataFrame:
    """A profile as long columns .par, .focal, .zeta (lme4's as.data.frame(profile(m)) layout)."""
    if not isinstance(prof, pd.DataFrame):
        raise TypeError("profile_plot needs a fitted model with a profile() method or a profile "
                        f"DataFrame, not {type(prof).__name__}")
    if {".par", ".zeta", ".focal"} <= set(prof.columns):
        return prof[[".par", ".focal", ".zeta"]]
    if {".par", ".zeta"} <= set(prof.columns):            # lme4's wide layout
        parts = []
        for par in dict.fromkeys(prof[".par"]):
            d = prof[prof[".par"] == par]
            if par not in d.columns:
                raise ValueError(f"profile of {par!r} lacks a column {par!r}")
            parts.append(pd.DataFrame({".par": par, ".focal": d[par].to_numpy(dtype=float),
                                       ".zeta": d[".zeta"].to_numpy(dtype=float)}))
        return pd.concat(parts, ignore_index=True)
    raise ValueError("a profile DataFrame needs columns '.par', '.zeta' and '.focal' "
                     "(or lme4's wide layout: '.par', '.zeta' and one column per parameter)")


def profile_plot(prof: pd.DataFrame, *, levels: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95, 0.99),
                 absolute: bool = False, figsize: tuple[float, float] | None = None) -> Figure:
    """Profile zeta against each parameter, as lme4's ``xyplot(profile(m))``.

    Parameters
    ----------
    prof : fitted model or pandas.DataFrame
        A model with a ``profile()`` method (called with its defaults), or a
        profile table in lme4's layout: ``.par`` (parameter name), ``.focal``
        (its value) and ``.zeta`` (signed square root of the change in deviance),
        or lme4's wide layout (``.par``, ``.zeta`` and one column per parameter).
    levels : sequence of float
        Confidence levels marked by horizontal lines at ``± z``.
    absolute : bool, default False
        Plot ``|zeta|`` (lme4's ``absVal = TRUE``).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per parameter: the profile trace and, where zeta crosses
        ``± z(level)``, dotted lines down to the interval's ends.
    """
    if hasattr(prof, "profile") and callable(prof.profile):
        prof = prof.profile()
    long = _profile_long(prof)
    pars = list(dict.fromkeys(long[".par"]))
    ncols = min(3, len(pars))
    nrows = -(-len(pars) // ncols)
    fig, axes = _figure(nrows, ncols, panel=(3.6, 3.0), figsize=figsize)
    flat = axes.ravel()
    zs = [float(stats.norm.ppf(0.5 + lv / 2)) for lv in levels]
    for ax, par in zip(flat, pars):
        d = long[long[".par"] == par].sort_values(".focal")
        x = d[".focal"].to_numpy(dtype=float)
        zeta = d[".zeta"].to_numpy(dtype=float)
        ok = np.isfinite(x) & np.isfinite(zeta)
        x, zeta = x[ok], zeta[ok]
        yv = np.abs(zeta) if absolute else zeta
        ax.plot(x, yv, "-", color="C0", lw=1.5)
        for zc in zs:
            for sgn in ((1,) if absolute else (-1, 1)):
                ax.axhline(sgn * zc, color="0.75", lw=0.6, zorder=0)
                cross = _crossing(x, zeta, sgn * zc)
                if cross is not None:
                    ax.vlines(cross, 0.0, sgn * zc, color="0.5", lw=0.6, ls=":")
        ax.set_title(str(par), fontsize=10)
        ax.set_ylabel("|zeta|" if absolute else "zeta")
    for ax in flat[len(pars):]:
        ax.set_visible(False)
    return fig


def _crossing(x, zeta, target):
    """x where the (monotone) profile reaches zeta = target, by linear interpolation."""
    if x.size < 2:
        return None
    d = zeta - target
    idx = np.nonzero(np.sign(d[:-1]) * np.sign(d[1:]) <= 0)[0]
    if idx.size == 0:
        return None
    i = idx[0] if target < 0 else idx[-1]
    if d[i + 1] == d[i]:
        return float(x[i])
    return float(x[i] - d[i] * (x[i + 1] - x[i]) / (d[i + 1] - d[i]))
