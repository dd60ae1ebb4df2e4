"""One linear model per level of a grouping factor, as lme4's ``lmList()``."""
from __future__ import annotations

from typing import Any
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats

from ..report.rformat import format_real
from ..errors import FormulaError, MissingColumnError, PymerDataError
from ..call import data_name
from ..formula import _as_frame
from ..formula.syntax import _BinOp, _deparse, _Name, _parse, _split_formula, _unparen
from .lm import lm


def _split_bar(formula: str):
    """("y ~ x", "g") from "y ~ x | g"."""
    lhs, rhs = _split_formula(formula)
    rhs = _unparen(rhs) if rhs is not None else None
    if not (isinstance(rhs, _BinOp) and rhs.op == "|"):
        raise FormulaError(f"lmList needs a formula 'response ~ terms | group', not {formula!r}")
    g = _unparen(rhs.rhs)
    if not isinstance(g, _Name):
        raise FormulaError(f"the grouping variable after '|' must be a column name, not "
                           f"'{_deparse(g)}' (in {formula!r})")
    return f"{_deparse(lhs)} ~ {_deparse(rhs.lhs)}", g.name


def _levels(s: pd.Series) -> list:
    """The grouping factor's levels as R's factor() orders them (used levels only)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return [c for c in s.cat.categories if (s == c).any()]
    vals = s.dropna().unique()
    if pd.api.types.is_numeric_dtype(s):
        return sorted(vals)
    return sorted(vals, key=lambda v: str(v).encode())     # C-locale collation


class LMList:
    """Linear models fitted separately to each level of a grouping factor (lme4's lmList4).

    Attributes
    ----------
    fits : dict
        Level -> :class:`LMResult`.
    coef : DataFrame
        Levels x coefficients.
    sigma : float
        The pooled residual standard error.
    """

    def __init__(self, formula: str, group: str, fits: dict, data_name: str | None = None,
                 call_formula: str | None = None) -> None:
        self.formula = formula
        self.group = group
        self.fits = fits
        self.data_name = data_name
        self._call_formula = call_formula

    @cached_property
    def coef(self) -> pd.DataFrame:
        rows = [f.coef for f in self.fits.values()]
        return pd.DataFrame(rows, index=pd.Index([str(k) for k in self.fits], name=self.group))

    @property
    def df_residual(self) -> int:
        return int(sum(f.df_residual for f in self.fits.values()))

    @property
    def nobs(self) -> int:
        return int(sum(f.nobs for f in self.fits.values()))

    @property
    def sigma(self) -> float:
        """Pooled residual standard error: sqrt(sum RSS / sum residual df)."""
        return float(np.sqrt(sum(f.deviance for f in self.fits.values()) / self.df_residual))

    def confint(self, level: float = 0.95) -> pd.DataFrame:
        """Confidence intervals of each level's coefficients from that level's own fit
        (t intervals with its residual df), as lme4's confint.lmList4.

        Returns a DataFrame: levels x (coefficient, bound) columns, the bounds named
        as R names them ("2.5 %", "97.5 %").
        """
        if not (isinstance(level, (float, int)) and 0 < level < 1):
            raise ValueError(f"level must be a number between 0 and 1, not {level!r}")
        a = (1 - level) / 2
        labels = [f"{format_real([100 * p], 3)[0].strip()} %" for p in (a, 1 - a)]
        cols = pd.MultiIndex.from_product([list(self.coef.columns), labels])
        out = pd.DataFrame(np.nan, index=self.coef.index, columns=cols)
        for lev, f in zip(self.coef.index, self.fits.values()):
            se = np.sqrt(np.diag(f.vcov.to_numpy()))
            q = stats.t.ppf((1 + level) / 2, f.df_residual)
            for j, nm in enumerate(f.fixef_names):
                b = f.fixef[nm]
                out.loc[lev, (nm, labels[0])] = b - q * se[j]
                out.loc[lev, (nm, labels[1])] = b + q * se[j]
        return out

    def __str__(self):
        call = f"lmList(formula = {self._call_formula}, data = {self.data_name or 'data'})"
        lines = [f"Call: {call} ", "Coefficients:"]
        cf = self.coef
        cols = [[s.strip() for s in format_real(cf[c].to_numpy(), 7)] for c in cf.columns]
        cols = [[("NA" if s == "NaN" else s) for s in col] for col in cols]
        rw = max(len(str(i)) for i in cf.index)
        widths = [max(len(str(c)), max(len(s) for s in col)) for c, col in zip(cf.columns, cols)]
        lines.append(" " * rw + "".join(" " + str(c).rjust(w) for c, w in zip(cf.columns, widths)))
        for i, lev in enumerate(cf.index):
            lines.append(str(lev).ljust(rw) + "".join(" " + col[i].rjust(w) for col, w in zip(cols, widths)))
        lines += ["", f"Degrees of freedom: {self.nobs} total; {self.df_residual} residual",
                  f"Residual standard error: {format_real([self.sigma], 7)[0].strip()}"]
        return "\n".join(lines)

    def __repr__(self):
        return self.__str__()


def lmlist(formula: str, data: Any) -> LMList:
    """Fit ``lm(y ~ x)`` to each level of ``g`` in ``"y ~ x | g"``, as lme4's ``lmList()``.

    Parameters
    ----------
    formula : str
        ``"response ~ terms | group"``.
    data : pandas.DataFrame or dict of arrays
        Never modified; rows with a missing group are left out.

    Returns
    -------
    LMList
    """
    if not isinstance(formula, str):
        raise TypeError(f"formula must be a string such as 'y ~ x | g', not {type(formula).__name__}")
    fixed, group = _split_bar(formula)
    frame = _as_frame(data)
    if group not in frame.columns:
        raise MissingColumnError(group, frame.columns, what="grouping variable")
    g = frame[group]
    fits = {}
    for lev in _levels(g):
        sub = frame.loc[(g == lev).to_numpy()]
        try:
            fits[lev] = lm(fixed, sub)
        except PymerDataError as e:
            raise PymerDataError(f"lm() for level '{lev}' of '{group}' failed: {e}") from None
    return LMList(fixed, group, fits, data_name(data), _deparse(_parse(formula)))

