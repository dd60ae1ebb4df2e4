"""Likelihood-ratio tests: :func:`anova` of nested fits and :func:`drop1`, as lme4
documents them (``?anova.merMod``, ``?drop1.merMod``): models ordered by their number of
parameters, REML fits refitted by maximum likelihood first."""
from __future__ import annotations

from typing import Any
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import RefitWarning, warn
from ..formula import _deparse, _parse, deparse_lines, drop_fixed_term
from .hypotheses import _term_structure
from .table import AnovaTable

__all__ = ["anova", "drop1", "RefitWarning"]


def _is_reml(m) -> bool:
    return bool(getattr(m, "REML", False))


def _refit_ml(m):
    """The same model fitted by maximum likelihood (lme4's refitML)."""
    with warnings.catch_warnings():
        # the REML fit already reported its own convergence problems
        warnings.simplefilter("ignore")
        return m.update(REML=False)


def anova(*models: Any, refit: bool = True, names: list[str] | None = None) -> AnovaTable:
    """Likelihood-ratio tests of nested mixed models, as lme4's ``anova(m1, m2, ...)``.

    Parameters
    ----------
    *models : fitted models
        Two or more fits of the same data (anything with ``loglik``, ``aic``,
        ``bic``, ``df`` and ``nobs``: LMM and GLMM results).
    refit : bool, default True
        Refit REML fits by maximum likelihood before comparing them (with lme4's
        message, issued as a :class:`RefitWarning`). REML likelihoods of models
        with different fixed effects are not comparable.
    names : list of str, optional
        Row names; default ``"m1"``, ``"m2"``, ... in argument order.

    Returns
    -------
    AnovaTable
        ``.table`` has the columns npar, AIC, BIC, logLik, deviance, Chisq, Df,
        Pr(>Chisq), one row per model ordered by npar; Chisq = 2 (difference in
        logLik to the previous row), tested on the difference in npar.
    """
    if len(models) == 1 and isinstance(models[0], (list, tuple)):
        models = tuple(models[0])
    if len(models) < 2:
        raise ValueError("anova() compares two or more fitted models; for F tests of the fixed "
                         "effects of one linear mixed model use m.anova(type=..., ddf=...)")
    if names is None:
        names = [f"m{i + 1}" for i in range(len(models))]
    names = [str(x) for x in names]
    if len(names) != len(models):
        raise ValueError(f"{len(names)} names for {len(models)} models")
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be unique: {names}")
    nobs = [int(m.nobs) for m in models]
    if len(set(nobs)) > 1:
        raise ValueError("models were not all fitted to the same size of dataset "
                         f"(numbers of observations: {dict(zip(names, nobs))})")
    fits: list[Any] = list(models)
    if refit and any(_is_reml(m) for m in fits):
        warn("refitting model(s) with ML (instead of REML)", RefitWarning)
        fits = [_refit_ml(m) if _is_reml(m) else m for m in fits]
    npar = np.array([float(m.df) for m in fits])
    order = np.argsort(npar, kind="stable")
    fits = [fits[i] for i in order]
    names = [names[i] for i in order]
    npar = npar[order]
    ll = np.array([float(m.loglik) for m in fits])
    chisq = np.r_[np.nan, 2 * np.maximum(0.0, np.diff(ll))]
    dfc = np.r_[np.nan, np.diff(npar)]
    with np.errstate(invalid="ignore"):
        p = np.where(dfc > 0, stats.chi2.sf(chisq, np.where(dfc > 0, dfc, 1)), np.nan)
    table = pd.DataFrame({
        "npar": npar, "AIC": [float(m.aic) for m in fits], "BIC": [float(m.bic) for m in fits],
        "logLik": ll, "deviance": -2 * ll, "Chisq": chisq, "Df": dfc, "Pr(>Chisq)": p,
    }, index=pd.Index(names))
    heading = []
    data_names = {getattr(getattr(m, "model", None), "data_name", None) for m in fits}
    if len(data_names) == 1 and None not in data_names:
        heading.append(f"Data: {data_names.pop()}")
    heading.append("Models:")
    # a model with more formulas says what follows its formula (glmmTMB's ", zi=~0, disp=~1")
    heading += [f"{nm}: {_one_line_formula(getattr(m, 'formula', ''))}{getattr(m, 'anova_model_line', '')}"
                for nm, m in zip(names, fits)]
    return AnovaTable(table, heading, fits)


def _one_line_formula(formula) -> str:
    """The formula on one line with R's spacing, as anova() prints its models."""
    try:
        return _deparse(_parse(str(formula)))
    except Exception:
        return str(formula)


def _droppable_terms(mf):
    """R's drop.scope: the terms not contained in any other term (marginality)."""
    struct = _term_structure(mf)
    vars_ = [a | b for a, b in struct]
    out = []
    for i, lbl in enumerate(mf.term_labels):
        if not any(j != i and vars_[i] < vars_[j] for j in range(len(vars_))):
            out.append(lbl)
    return out


def drop1(m: Any, test: str = "Chisq", k: float = 2.0) -> AnovaTable:
    """Single-term deletions of the fixed effects, as lme4's ``drop1(m, test = "Chisq")``.

    Only terms not contained in a higher-order term are dropped (R's marginality
    rule); each reduced model is refitted by maximum likelihood (a REML fit is
    first refitted by ML, with lme4's message as a :class:`RefitWarning`).

    Parameters
    ----------
    m : fitted model
    test : {"Chisq", "none"}
        Add the likelihood-ratio statistic and its chi-square p-value.
    k : float
        Penalty per parameter in the AIC column (2: AIC).

    Returns
    -------
    AnovaTable
        Rows ``<none>`` and one per droppable term; columns npar (parameters
        removed), AIC, and with ``test="Chisq"`` LRT and Pr(Chi).
    """
    test = str(test)
    if test.lower() not in ("chisq", "lrt", "none"):
        raise ValueError(f"test={test!r}: use 'Chisq' or 'none'")
    base = m
    if _is_reml(m):
        warn("refitting model(s) with ML (instead of REML)", RefitWarning)
        base = _refit_ml(m)
    if not hasattr(base, "update"):
        raise TypeError(f"drop1() refits the model without each term: it needs the fitted model's "
                        f"update(formula=...) method, which {type(base).__name__} lacks")
    mf = base.model.mf
    labels = _droppable_terms(mf)
    rows = [("<none>", np.nan, -2 * base.loglik + k * base.df, np.nan)]
    fits = []
    for lbl in labels:
        f = drop_fixed_term(base.formula, lbl)
        kw = {"REML": False} if hasattr(base, "REML") else {}
        sub = base.update(formula=f, **kw)
        fits.append(sub)
        npar = float(base.df - sub.df)
        lrt = 2 * (base.loglik - sub.loglik)
        rows.append((lbl, npar, -2 * sub.loglik + k * sub.df, lrt))
    table = pd.DataFrame(rows, columns=["term", "npar", "AIC", "LRT"]).set_index("term")
    table.index.name = None
    if test.lower() == "none":
        table = table[["npar", "AIC"]]
    else:
        with np.errstate(invalid="ignore"):
            npar = table["npar"].to_numpy()
            table["Pr(Chi)"] = np.where(npar > 0, stats.chi2.sf(table["LRT"].to_numpy(),
                                                                 np.where(npar > 0, npar, 1)), np.nan)
    heading = ["Single term deletions", "", "Model:"] + deparse_lines(base.formula)
    return AnovaTable(table, heading, [base] + fits)
