"""The data grid of adjusted predictions: what a fit's variables are (numeric or factor,
with their levels), the values of the focal terms and the typical values of the others."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..call import fitted_rows
from ..errors import PymerDataError
from ..formula.syntax import _Call, _Name, r_number_label
from ..report.plots import _linkinv
from .newdata import model_variables


class ModelView:
    """What predictions need from any pymer fit (lmer, glmer, glmer_nb, lm, glm).

    Attributes
    ----------
    data : DataFrame
        The rows of the caller's data that the fit used.
    factors : dict
        Column -> level labels (R's order) for the columns the fixed part uses as factors.
    numeric : list
        The other columns of the fixed part.
    """

    def __init__(self, m):
        self.m = m
        self.mf = m.model.mf
        self.data = fitted_rows(m.model, "predict_response")
        self.linkinv, self.link = _linkinv(m)
        self.factors, self.numeric = {}, []
        for vs in self.mf._spec.fixed.vars:
            node = vs.node
            if isinstance(node, _Call) and node.fn.name in ("factor", "as.factor", "ordered") \
                    and node.args and isinstance(node.args[0][1], _Name):
                self.factors[node.args[0][1].name] = list(vs.levels)
            elif isinstance(node, _Name):
                if vs.kind == "fac":
                    self.factors[node.name] = list(vs.levels)
        for col in model_variables(self.mf, include_random=False):
            if col not in self.factors and col in self.data.columns:
                self.numeric.append(col)

    @property
    def columns(self) -> list:
        return [c for c in model_variables(self.mf, include_random=False) if c in self.data.columns]

    @property
    def is_linear(self) -> bool:
        fam = getattr(self.m, "family", None)
        return fam is None or (fam.name == "gaussian" and fam.link == "identity")

    def factor_values(self, col, labels):
        """Values of column `col` that read as the factor levels `labels` (a Categorical
        with the data's categories, the data's own numbers for factor(x))."""
        s = self.data[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            return pd.Categorical(labels, categories=s.cat.categories)
        if pd.api.types.is_bool_dtype(s):
            return np.array([lab == "TRUE" for lab in labels])
        if pd.api.types.is_numeric_dtype(s):
            lookup = {r_number_label(float(v)): v for v in pd.unique(s.dropna())}
            return np.array([lookup[lab] for lab in labels])
        return np.array(labels, dtype=object)

    def typical(self, col, margin):
        """ggeffects' constant value of a non-focal column: numeric at the mean;
        a factor at its reference (first) level."""
        if col in self.factors:
            return self.factor_values(col, self.factors[col][:1])[0]
        return float(np.mean(self.data[col].to_numpy(dtype=np.float64)))


def _representative(x: np.ndarray, keyword: str) -> np.ndarray:
    """ggeffects' values_at() shortcuts."""
    x = x[np.isfinite(x)]
    if keyword == "meansd":
        m, s = x.mean(), x.std(ddof=1)
        digits = 1 if np.all(x == np.round(x)) else 2
        return np.round([m - s, m, m + s], digits)
    if keyword == "minmax":
        return np.array([x.min(), x.max()])
    if keyword == "zeromax":
        return np.array([0.0, x.max()])
    if keyword == "quart":
        return np.quantile(x, [0, 0.25, 0.5, 0.75, 1])
    if keyword == "quart2":
        return np.quantile(x, [0.25, 0.5, 0.75])
    if keyword == "fivenum":
        xs = np.sort(x)
        n = len(xs)
        n4 = np.floor((n + 3) / 2) / 2
        d = np.array([1, n4, (n + 1) / 2, n + 1 - n4, n]) - 1
        return 0.5 * (xs[np.floor(d).astype(int)] + xs[np.ceil(d).astype(int)])
    if keyword == "terciles":
        return np.quantile(x, [0, 1 / 3, 2 / 3, 1])
    if keyword == "terciles2":
        return np.quantile(x, [1 / 3, 2 / 3])
    return np.unique(x)       # "all"


def r_pretty(lo: float, hi: float, n: int, h: float = 1.5) -> np.ndarray:
    """R's pretty() for a range with lo < hi: about n + 1 round values covering [lo, hi].

    As ?pretty describes it: the cell c = (hi - lo) / n, its power of ten b, and the
    unit u one of {1, 2, 5, 10} b, larger ones favoured by the biases h
    (high.u.bias) and f = 0.5 + 1.5 h (u5.bias); at least n %/% 3 intervals.
    """
    f = 0.5 + 1.5 * h
    cell = (hi - lo) / max(n, 1)
    b = 10.0 ** np.floor(np.log10(cell))
    unit = b
    if 2 * b - cell < h * (cell - unit):
        unit = 2 * b
        if 5 * b - cell < f * (cell - unit):
            unit = 5 * b
            if 10 * b - cell < h * (cell - unit):
                unit = 10 * b
    ns = np.floor(lo / unit + 1e-10)
    nu = np.ceil(hi / unit - 1e-10)
    min_n = n // 3
    k = nu - ns
    if k < min_n:
        extra = min_n - k
        if ns >= 0:
            nu += extra // 2
            ns -= extra // 2 + extra % 2
        else:
            ns -= extra // 2
            nu += extra // 2 + extra % 2
    return np.round(np.arange(ns, nu + 1) * unit, 12)


def pretty_values(x: np.ndarray) -> np.ndarray:
    """Values of a numeric focal term given without brackets (ggeffects' pretty range).

    R's pretty() over the range with a number of intervals that reproduces the choices
    of ggeffects 1.2.0 seen in its output: with at most 100 distinct values about 10
    intervals (100 for a range of 99 or more), with more about 5 (20 for a range of 99
    or more); about 2 for a range below 1.
    """
    x = x[np.isfinite(x)]
    u = np.unique(x)
    lo, hi = float(u.min()), float(u.max())
    if hi == lo:
        return u
    r = hi - lo
    many = len(u) > 100 or (len(u) == 100 and r >= 99)
    if r < 1:
        n = 2
    elif r < 99:
        n = 5 if many else 10
    else:
        n = 20 if many else 100
    return r_pretty(lo, hi, n)


def focal_values(view: ModelView, term, position: int):
    """The values at which focal term `term` (a FocalTerm) is predicted, and whether it is a factor."""
    name = term.name
    if name not in view.data.columns:
        raise PymerDataError(f"focal term '{name}' is not a variable of the model's fixed effects "
                             f"(variables: {', '.join(view.columns) or 'none'})")
    if name not in view.columns:
        raise PymerDataError(f"focal term '{name}' is not in the fixed part of the formula "
                             f"{view.mf.formula!r} (variables: {', '.join(view.columns)})")
    if name in view.factors:
        levels = view.factors[name]
        if term.keyword is not None:
            raise ValueError(f"'[{term.keyword}]' needs a numeric variable; '{name}' is a factor")
        if term.values is not None:
            bad = [v for v in term.values if v not in levels]
            if bad:
                raise PymerDataError(f"level(s) {bad} of focal term '{name}' are not levels of the "
                                     f"factor (levels: {levels})")
            levels = [v for v in term.values]
        return levels, True
    x = view.data[name].to_numpy(dtype=np.float64)
    if term.values is not None:
        try:
            return np.array([float(v) for v in term.values]), False
        except ValueError:
            raise PymerDataError(f"values {term.values} of the numeric focal term '{name}' "
                                 "must be numbers") from None
    if term.keyword is not None:
        return _representative(x, term.keyword), False
    # ggeffects: the first term gets a pretty range, grouping terms mean and +/- 1 SD
    return (pretty_values(x) if position == 0 else _representative(x, "meansd")), False
