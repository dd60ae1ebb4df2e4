"""Confidence intervals for the variance parameters and fixed effects of a fit, as lme4's
``confint()``: Wald, likelihood profile (:mod:`pymer.inference.profile`) and parametric
bootstrap percentile intervals (:mod:`pymer.inference.bootmer`)."""
from __future__ import annotations

from typing import Any, Literal
import numpy as np
import pandas as pd
from scipy import stats

from .bootmer import bootstrap
from .params import _ci_labels, _select_parms, param_names, sdcor_params
from .profile import profile

__all__ = ["confint"]


def confint(res: Any, parm: str | list[str] | None = None, level: float = 0.95,
            method: str = "profile", *, nsim: int = 500,
            seed: int | None = None, boot_type: Literal["perc", "basic", "norm"] = "perc", n_jobs: int = 1,
            progress: Any = None, old_names: bool = True) -> pd.DataFrame:
    """Confidence intervals for the variance parameters and fixed effects, as lme4's confint().

    Parameters
    ----------
    res : fitted model
    parm : None, list of names / indices, "theta_" or "beta_"
        Which rows (default all).
    level : float
    method : {"profile", "wald", "boot"}
        "profile": likelihood-profile intervals (:func:`pymer.profile`;
        lme4 profiles the deviance, also for REML fits; for a GLMM the Laplace or
        adaptive Gauss-Hermite deviance, re-optimized over all other parameters,
        not available for nAGQ = 0 fits or families with a dispersion parameter).
        "wald": beta-hat +/- z SE
        for the fixed effects, NaN for the variance parameters. "boot": percentile
        intervals of a parametric bootstrap (:func:`bootstrap`, ``nsim`` replicates
        from ``seed``).
    old_names : bool, default True
        Row names ``.sig01``/``.sigma`` (lme4's default) or ``sd_(Intercept)|g``,
        ``cor_x.(Intercept)|g``, ``sigma``.

    Returns
    -------
    pandas.DataFrame
        Columns ``"2.5 %"`` and ``"97.5 %"`` (for level 0.95).
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    key = str(method).lower()
    vnames = param_names(res, old_names)
    names = vnames + list(res.fixef_names)
    sel = _select_parms(names, len(vnames), parm)
    cols = _ci_labels(level)
    if key == "wald":
        z = stats.norm.ppf(1 - (1 - level) / 2)
        se = np.sqrt(np.diag(np.asarray(res.vcov)))
        lo = np.r_[np.full(len(vnames), np.nan), np.asarray(res.beta) - z * se]
        hi = np.r_[np.full(len(vnames), np.nan), np.asarray(res.beta) + z * se]
        out = np.column_stack([lo, hi])
    elif key == "profile":
        # profile a little beyond the interval's ends, then solve for them exactly
        prof = profile(res, which=sel, alphamax=(1 - level) / 4, old_names=old_names)
        ci = prof.confint(level=level)
        out = np.full((len(names), 2), np.nan)
        for i in sel:
            out[i] = ci.loc[names[i]].to_numpy()
    elif key in ("boot", "bootstrap"):
        b = bootstrap(res, _boot_params, nsim=nsim, seed=seed, n_jobs=n_jobs, progress=progress)
        b.names = names
        out = b.confint(level=level, type=boot_type).to_numpy()
    else:
        raise ValueError(f"method={method!r}: use 'profile', 'wald' or 'boot'")
    return pd.DataFrame(out[sel], index=[names[i] for i in sel], columns=cols)


def _boot_params(r):
    """Variance parameters (sd/cor scale), sigma and fixed effects of a fit."""
    return np.r_[sdcor_params(r), np.asarray(r.beta, dtype=np.float64)]
