"""lme4's summaries as data: sections of numbers with their printed lines, and the
pieces every fitted model's text is made of (fit statistics, formula lines, fixed
effects of a printed fit, convergence messages)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from ..formula import deparse_lines
from .rformat import cat_fill, format_real


@dataclass(frozen=True)
class Section:
    """One block of a summary: lme4's printed lines and the numbers behind them.

    ``kind`` says what the block is ("header", "stats", "residuals", "varcorr",
    "coefficients", "correlation", "fixef", "messages", "text"); ``data`` holds the
    numbers the HTML tables are built from (None where the lines are all there is).
    """

    kind: str
    lines: tuple
    data: Any = None


class Summary:
    """A summary as structured sections, rendered to text (lme4's characters, ``str()``)
    and to HTML (Jupyter's ``_repr_html_``) from the same numbers.

    Parameters
    ----------
    sections : list of Section, or str
        The blocks in print order; a plain string is one preformatted block.
    coefficients : pandas.DataFrame
        The fixed-effects table (``.coefficients``).
    title : str
    """

    def __init__(self, sections: str | Iterable[Section], coefficients: pd.DataFrame | None = None,
                 title: str = "summary") -> None:
        if isinstance(sections, str):
            sections = [Section("text", tuple(sections.split("\n")))]
        self.sections = list(sections)
        self.coefficients = coefficients
        self.title = title

    @property
    def text(self) -> str:
        return "\n".join(ln for s in self.sections for ln in s.lines)

    def __str__(self):
        return self.text

    def __repr__(self):
        return self.text

    def _repr_html_(self):
        from .html import render_html
        return render_html(self.sections, self.coefficients)


def aic_lines(aic: float, bic: float, loglik: float, deviance: float, df_resid: float,
              decimals: int) -> list[str]:
    """lme4's AIC / BIC / logLik / deviance / df.resid rows.

    The four statistics are rounded to `decimals` places (1 in summaries, 4 when
    a fit is printed) and laid out as R prints a numeric vector (7 significant
    digits, one number of decimals for all); df.resid is a whole number. As R
    prints a named vector, every column has the same width and is followed by a
    blank.
    """
    names, cells = _aic_cells(aic, bic, loglik, deviance, df_resid, decimals)
    w = max(len(x) for x in names + cells)
    return ["".join(x.rjust(w) + " " for x in names), "".join(x.rjust(w) + " " for x in cells)]


def _aic_cells(aic, bic, loglik, deviance, df_resid, decimals):
    names = ["AIC", "BIC", "logLik", "deviance", "df.resid"]
    vals = np.round(np.array([aic, bic, loglik, deviance], dtype=float), decimals)
    return names, [c.strip() for c in format_real(vals, 7)] + [str(int(df_resid))]


def stats_section(aic: float, bic: float, loglik: float, deviance: float, df_resid: float,
                  decimals: int) -> Section:
    """The AIC row as a section: after a blank line in summaries (1 decimal), none
    when a fit is printed (4 decimals)."""
    lead = ("",) if decimals == 1 else ()
    return Section("stats", lead + tuple(aic_lines(aic, bic, loglik, deviance, df_resid, decimals)),
                   _aic_cells(aic, bic, loglik, deviance, df_resid, decimals))


def formula_lines(formula: str) -> list:
    """lme4's 'Formula:' line(s) of a printed model."""
    return cat_fill(["Formula:"] + deparse_lines(formula))


def fixef_print_lines(fe: pd.Series) -> list:
    """The fixed effects of a printed fit: names over values, as R prints a named vector."""
    vals = [v.strip() for v in format_real(fe.to_numpy(), 4)]
    names = list(fe.index)
    w = max(len(x) for x in names + vals)
    per_line = max(1, 80 // (w + 2))
    lines = []
    for i in range(0, len(names), per_line):
        lines.append("  ".join(a.rjust(w) for a in names[i:i + per_line]) + "  ")
        lines.append("  ".join(b.rjust(w) for b in vals[i:i + per_line]) + "  ")
    return lines


def _warning_counts(res):
    """(optimizer warnings, lme4-check warnings) as lme4 counts them."""
    opt_msgs = list(getattr(getattr(res, "opt", None), "messages", None) or [])
    n_opt = sum(1 for m in res.messages if m in opt_msgs)
    n_check = len(res.messages) - n_opt + (1 if res.is_singular else 0)
    return n_opt, n_check


def message_lines(res: Any, printed: bool = False) -> list:
    """The closing lines of a summary (or of a printed fit) when the fit gave warnings.

    As lme4: the optimizer's convergence code, then each message (the boundary
    message for singular fits first) and a blank line; a printed fit gets one
    line with the counts instead.
    """
    msgs = (["boundary (singular) fit: see help('isSingular')"] if res.is_singular else [])
    msgs += list(res.messages)
    if not msgs:
        return []
    status = getattr(getattr(res, "opt", None), "status", 1)
    code = "0 (OK)" if status is None or status > 0 and status != 5 else f"{status}"
    # pymer's optimizers are NLopt's (BOBYQA by default): lme4 calls that "nloptwrap"
    head = f"optimizer (nloptwrap) convergence code: {code}"
    if printed:
        n_opt, n_check = _warning_counts(res)
        return [f"{head} ; {n_opt} optimizer warnings; {n_check} lme4 warnings "]
    return [head] + [ln for m in msgs for ln in str(m).split("\n")] + [""]


# the footnote of a summary of an adaptive Gauss-Hermite (nAGQ > 1) fit
AGQ_LOGLIK_NOTE = (
    "",
    "Note: logLik (and AIC, BIC, deviance) is the full log-likelihood, comparable with",
    "nAGQ = 1 fits; lme4 leaves out a constant at nAGQ > 1 (the saturated model's",
    "log-likelihood; lme4 issue #161), so its values differ by that constant.",
)
