"""Tidy tables of a fitted mixed model, as R's broom.mixed makes them.

``tidy(m)`` gives one row per estimate, ``glance(m)`` one row per model, with
broom.mixed's column names and term labels, so tables from pymer and from R
line up::

    >>> m = pymer.lmer("Reaction ~ Days + (Days | Subject)", pymer.datasets.load("sleepstudy"))
    >>> m.tidy()                       # fixed effects and variance parameters
         effect     group                   term    estimate  std.error  statistic
    0     fixed       NaN            (Intercept)  251.405105   6.824597  36.838090
    1     fixed       NaN                   Days   10.467286   1.545790   6.771481
    2  ran_pars   Subject        sd__(Intercept)   24.740658        NaN        NaN
    3  ran_pars   Subject  cor__(Intercept).Days    0.065551        NaN        NaN
    4  ran_pars   Subject               sd__Days    5.922138        NaN        NaN
    5  ran_pars  Residual        sd__Observation   25.591796        NaN        NaN

Everything is read from the result's accessors (``fixef``, ``vcov``,
``varcorr``, ``ranef``, ``condvar``, ``coef``, ``summary().coefficients``,
``loglik``, ``aic``, ...), so linear and generalized fits are tidied alike.
"""
from __future__ import annotations

from typing import Any, Literal
import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["tidy", "glance"]

_EFFECTS = ("fixed", "ran_pars", "ran_vals", "ran_coefs")
_ORDER = ["effect", "group", "level", "term", "estimate", "std.error", "statistic", "df",
          "p.value", "conf.low", "conf.high"]


def tidy(m: Any, effects: str | tuple[str, ...] | list[str] = ("fixed", "ran_pars"), conf_int: bool = False,
         conf_level: float = 0.95, *, scales: Literal["sdcor", "vcov"] = "sdcor",
         ddf: str | None = None) -> pd.DataFrame:
    """One row per estimate, as broom.mixed's ``tidy()``.

    Parameters
    ----------
    m : MixedModelResult
        A fitted model (``pymer.lmer``, ``pymer.glmer``, ...).
    effects : str or sequence of str, default ("fixed", "ran_pars")
        ``"fixed"``: fixed effects with standard errors and Wald statistics;
        ``"ran_pars"``: standard deviations and correlations of the random
        effects (``sd__(Intercept)``, ``cor__(Intercept).Days``) and of the
        residual (``sd__Observation``); ``"ran_vals"``: conditional modes of the
        random effects with conditional standard deviations (``condvar``);
        ``"ran_coefs"``: per-level coefficients (fixed + random, ``coef``).
    conf_int : bool, default False
        Add ``conf.low``/``conf.high``: Wald intervals for fixed effects (normal,
        or t with the ddf's degrees of freedom) and for ran_vals; not available
        for ran_pars (NaN, as broom.mixed's Wald method).
    conf_level : float, default 0.95
        Coverage of the intervals.
    scales : {"sdcor", "vcov"}, default "sdcor"
        ran_pars as standard deviations and correlations (``sd__``, ``cor__``)
        or variances and covariances (``var__``, ``cov__``).
    ddf : {None, "Satterthwaite", "Kenward-Roger"}, optional
        For linear mixed models: add ``df`` and ``p.value`` for the fixed
        effects from ``m.summary(ddf=...)`` (lmerTest's tests).

    Returns
    -------
    pandas.DataFrame
        Columns among effect, group, level, term, estimate, std.error,
        statistic, df, p.value, conf.low, conf.high: those the requested
        effects have (as broom.mixed, there is no ``group`` column when only
        fixed effects are asked for, and p.value only where the model gives one).
    """
    own = getattr(m, "tidy_table", None)
    if callable(own):
        # a fit with components of its own (glmmTMB's: broom.mixed's component column)
        kw: dict[str, str] = {"scales": scales} if scales != "sdcor" else {}
        if ddf is not None:
            kw["ddf"] = ddf
        return own(effects=effects, conf_int=conf_int, conf_level=conf_level, **kw)
    if isinstance(effects, str):
        effects = (effects,)
    effects = tuple(effects)
    bad = [e for e in effects if e not in _EFFECTS]
    if bad or not effects:
        raise ValueError(f"effects must be among {', '.join(map(repr, _EFFECTS))}; got {effects!r}")
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level must be between 0 and 1, not {conf_level!r}")
    if scales not in ("sdcor", "vcov"):
        raise ValueError(f"scales must be 'sdcor' or 'vcov', not {scales!r}")
    parts = []
    for e in _EFFECTS:                       # broom.mixed's order: fixed first
        if e not in effects:
            continue
        if e == "fixed":
            parts.append(_fixed(m, conf_int, conf_level, ddf))
        elif e == "ran_pars":
            parts.append(_ran_pars(m, conf_int, scales))
        elif e == "ran_vals":
            parts.append(_ran_vals(m, conf_int, conf_level))
        else:
            parts.append(_ran_coefs(m))
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    if effects == ("fixed",):
        out = out.drop(columns=["group"], errors="ignore")
    cols = [c for c in _ORDER if c in out.columns]
    out = out[cols].reset_index(drop=True)
    for c in ("group", "level"):
        if c in out.columns:
            # broom.mixed's NA: NaN in an object column, as varcorr's var2
            out[c] = out[c].astype(object).where(out[c].notna(), np.nan)
    return out


def glance(m: Any) -> pd.DataFrame:
    """One row of model statistics, as broom.mixed's ``glance()``.

    Columns: nobs, sigma, logLik, AIC, BIC, then ``REMLcrit`` for REML fits or
    ``deviance`` otherwise (as broom.mixed), and df.residual.
    """
    row = {"nobs": int(m.nobs), "sigma": float(getattr(m, "sigma", 1.0)),
           "logLik": float(m.loglik), "AIC": float(m.aic), "BIC": float(m.bic)}
    if getattr(m, "REML", False):
        row["REMLcrit"] = float(m.objective)
    else:
        row["deviance"] = float(m.deviance)
    dfr = getattr(m, "df_residual", None)
    row["df.residual"] = int(dfr if dfr is not None else m.nobs - m.df)
    return pd.DataFrame([row])


# ---- pieces -------------------------------------------------------------------

def _coefficients(m, ddf):
    """The fixed-effects table: from the summary (which knows the model's tests), else vcov."""
    if ddf is not None:
        try:
            return m.summary(ddf=ddf).coefficients
        except ModuleNotFoundError as e:
            raise ValueError(f"ddf={ddf!r} needs pymer's inference module, which this "
                             f"installation lacks ({e})") from None
    table = getattr(m, "_coef_table", None)
    if isinstance(table, pd.DataFrame):
        return table
    summ = m.summary()
    return summ.coefficients


def _fixed(m, conf_int, level, ddf):
    tab = _coefficients(m, ddf)
    fe = m.fixef
    tab = tab.reindex(fe.index)
    est = tab["Estimate"].to_numpy(dtype=float) if "Estimate" in tab else fe.to_numpy()
    if "Std. Error" in tab:
        se = tab["Std. Error"].to_numpy(dtype=float)
    else:
        se = np.sqrt(np.diag(np.asarray(m.vcov, dtype=float)))
    stat_col = next((c for c in tab.columns if c in ("t value", "z value")), None)
    stat = tab[stat_col].to_numpy(dtype=float) if stat_col else est / se
    out = pd.DataFrame({"effect": "fixed", "group": np.nan, "term": list(fe.index),
                        "estimate": est, "std.error": se, "statistic": stat})
    df = tab["df"].to_numpy(dtype=float) if "df" in tab.columns else None
    if df is not None:
        out["df"] = df
    pcol = next((c for c in tab.columns if str(c).startswith("Pr(")), None)
    if pcol is not None:
        out["p.value"] = tab[pcol].to_numpy(dtype=float)
    if conf_int:
        q = stats.t.ppf(0.5 + level / 2, df) if df is not None else stats.norm.ppf(0.5 + level / 2)
        out["conf.low"] = est - q * se
        out["conf.high"] = est + q * se
    return out


def _ran_pars(m, conf_int, scales):
    vc = m.varcorr
    sd_name, cor_name = ("sd", "cor") if scales == "sdcor" else ("var", "cov")
    value = "sdcor" if scales == "sdcor" else "vcov"
    rows = []
    for grp in dict.fromkeys(vc["grp"]):        # groups in varcorr's (lme4's) order
        g = vc[vc["grp"] == grp]
        if grp == "Residual":
            rows.append((grp, f"{sd_name}__Observation", float(g[value].iloc[0])))
            continue
        var = g[g["var2"].isna()]
        cov = g[g["var2"].notna()]
        for _, r in var.iterrows():
            rows.append((grp, f"{sd_name}__{r['var1']}", float(r[value])))
            for _, c in cov[cov["var1"] == r["var1"]].iterrows():
                rows.append((grp, f"{cor_name}__{c['var1']}.{c['var2']}", float(c[value])))
    out = pd.DataFrame(rows, columns=["group", "term", "estimate"])
    out.insert(0, "effect", "ran_pars")
    if conf_int:
        out["conf.low"] = np.nan
        out["conf.high"] = np.nan
    return out


def _ran_vals(m, conf_int, level):
    rt = m.ranef_table(condvar=True)
    out = pd.DataFrame({"effect": "ran_vals", "group": rt["grpvar"].to_numpy(),
                        "level": rt["grp"].astype(str).to_numpy(), "term": rt["term"].to_numpy(),
                        "estimate": rt["condval"].to_numpy(dtype=float),
                        "std.error": rt["condsd"].to_numpy(dtype=float)})
    if conf_int:
        q = stats.norm.ppf(0.5 + level / 2)
        out["conf.low"] = out["estimate"] - q * out["std.error"]
        out["conf.high"] = out["estimate"] + q * out["std.error"]
    return out


def _ran_coefs(m):
    frames = []
    for g, df in m.coef.items():
        for term in df.columns:
            frames.append(pd.DataFrame({"effect": "ran_coefs", "group": g,
                                        "level": df.index.astype(str), "term": term,
                                        "estimate": df[term].to_numpy(dtype=float)}))
    return pd.concat(frames, ignore_index=True)

