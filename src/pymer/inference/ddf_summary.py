"""lmerTest's summary: lme4's summary with Satterthwaite or Kenward-Roger df and
p-values in the fixed-effects table."""
from __future__ import annotations

from typing import Any
import numpy as np
import pandas as pd

from ..report.rformat import coef_lines
from ..report.summary import Section, Summary
from .ddf import _contest1d, _ddf_method, _satterthwaite
from .params import _require_lmm

__all__ = ["summary_with_ddf"]


def summary_with_ddf(res: Any, ddf: str = "Satterthwaite", correlation: bool = True) -> Summary:
    """lmerTest's summary: lme4's summary with df and p-values for the fixed effects.

    Returns a :class:`pymer.results.Summary` whose ``.coefficients`` has the columns
    Estimate, Std. Error, df, t value, Pr(>|t|).
    """
    method = _ddf_method(ddf)
    if method == "lme4":
        return res.summary(correlation=correlation)
    _require_lmm(res, "summary(ddf=...)")
    rows = [_contest1d(res, l, method) for l in np.eye(len(res.beta))]
    coefs = pd.DataFrame(rows, index=res.fixef_names,
                         columns=["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"])
    meth = "Satterthwaite's" if method == "Satterthwaite" else "Kenward-Roger's"
    crit = "REML" if res.REML else "maximum likelihood "
    title = _title_lines(f"Linear mixed model fit by {crit}. t-tests use {meth} method",
                         "lmerModLmerTest")
    sections = res._summary_sections(title + res._header()[1:], res._stats_section(1), coefs,
                                     _ddf_coef_lines(coefs), correlation)
    msgs = _satterthwaite(res).messages if method == "Satterthwaite" else []
    if msgs:
        sections.append(Section("messages", ("",) + tuple(msgs)))
    return Summary(sections, coefs, title="summary")


def _title_lines(title, cls, width=80):
    """A summary's title as R prints it: words wrapped to lines shorter than `width`
    (continuation lines indented by 2), then " [cls]", or " [" and cls + "]" on the
    next line when it does not fit (as lmerTest's titles print)."""
    lines, cur = [], ""
    for w in title.split(" "):
        if cur and len(cur) + 1 + len(w) >= width:
            lines.append(cur)
            cur = "  " + w
        else:
            cur = f"{cur} {w}" if cur else w
    if len(cur) + len(cls) + 3 >= width:
        return lines + [cur + " [", cls + "]"]
    return lines + [f"{cur} [{cls}]"]


def _ddf_coef_lines(coefs, digits=4):
    """lmerTest's fixed-effects table as printCoefmat prints it: estimates, standard
    errors and df with one common layout, t values rounded, p-values, stars."""
    return coef_lines(coefs, digits)
