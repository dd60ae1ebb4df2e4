"""The reference grid of a fitted model, as emmeans builds it (Lenth's ``ref_grid``).

The grid crosses the data variables the fixed-effects formula uses: each factor at
all its levels (as fitted), each numeric covariate at its mean over the rows used in
the fit (or at the values given in ``at=``), and the offset at the mean of the fitted
offsets. Its model-matrix rows come from the
fitted model's own formula machinery (:meth:`pymer.formula.ModelFrame.new_data`), so
factor codings, polynomial contrasts of ordered factors, ``factor(x)``, ``log(x)``,
``scale(x)`` and interactions are encoded exactly as for the fit. Marginal means
average grid rows with equal weights over the variables not asked for.
"""
from __future__ import annotations

from typing import Any
import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..call import fitted_rows
from ..errors import PymerDataError
from ..formula import r_number_label
from ..formula.syntax import _Call, _Name, _Node

_FACTOR_CALLS = ("factor", "as.factor", "ordered", "as.ordered")


@dataclass
class GridVar:
    """One variable of the reference grid: its grid values and their labels."""

    name: str
    is_factor: bool
    values: list            # values put into the new data
    labels: list[str]       # as emmeans prints them
    numeric: bool = False   # the data column is numeric (a covariate, or inside factor())

    @property
    def numeric_levels(self) -> bool:
        """Levels that read as numbers: emmeans then writes contrasts as 'name<level>'."""
        try:
            [float(x) for x in self.labels]
        except ValueError:
            return False
        return True


@dataclass
class RefGrid:
    """The reference grid: variables, their crossing (first varies fastest), the
    fixed-effects rows X (one per grid point, the fit's column order) and offsets."""

    vars: list[GridVar]
    codes: np.ndarray       # (G, nvars) level index of each grid point
    X: np.ndarray           # (G, p)
    offset: np.ndarray      # (G,)

    def var(self, name: str) -> GridVar:
        for v in self.vars:
            if v.name == name:
                return v
        raise KeyError(name)

    def names(self) -> list[str]:
        return [v.name for v in self.vars]

    def marginal(self, keep: list[str]) -> tuple[list[tuple[int, ...]], np.ndarray, np.ndarray]:
        """Equally weighted averages of the grid rows over the variables not in `keep`.

        Returns the combinations of `keep` (first varies fastest) as a list of level
        index tuples, their averaged rows L (k, p) and offsets (k,).
        """
        idx = [self.names().index(k) for k in keep]
        nlev = [len(self.vars[i].values) for i in idx]
        combos = [tuple(reversed(c)) for c in itertools.product(*[range(n) for n in reversed(nlev)])]
        L = np.empty((len(combos), self.X.shape[1]))
        off = np.empty(len(combos))
        sub = self.codes[:, idx]
        for r, c in enumerate(combos):
            rows = np.all(sub == np.asarray(c), axis=1)
            L[r] = self.X[rows].mean(axis=0)
            off[r] = self.offset[rows].mean()
        return combos, L, off


def _names_in(node: _Node, out: list, in_factor: set, inside_factor=False):
    """Data-variable names in an expression (function names excluded), in order;
    those appearing inside factor()/ordered() go to `in_factor`."""
    if isinstance(node, _Name):
        if node.name not in out:
            out.append(node.name)
        if inside_factor:
            in_factor.add(node.name)
        return
    if isinstance(node, _Call):
        fac = inside_factor or (isinstance(node.fn, _Name) and node.fn.name in _FACTOR_CALLS)
        for _, a in node.args:
            _names_in(a, out, in_factor, fac)
        return
    for attr in ("lhs", "rhs", "x"):
        child = getattr(node, attr, None)
        if isinstance(child, _Node):
            _names_in(child, out, in_factor, inside_factor)


def model_data(m: Any) -> pd.DataFrame:
    """The rows of the data the fit used."""
    return fitted_rows(m.model, "emmeans (for the reference grid)")


def _factor_levels(m, name: str, col: pd.Series) -> list[str]:
    """Levels of a factor column as the fit used them."""
    for vs in m.model.mf._spec.fixed.vars:
        if isinstance(vs.node, _Name) and vs.node.name == name and vs.kind == "fac":
            return list(vs.levels)
    if isinstance(col.dtype, pd.CategoricalDtype):
        used = set(col.dropna().astype(str))
        return [str(c) for c in col.cat.categories if str(c) in used]
    return sorted({str(x) for x in col.dropna()})


def _grid_var(m, name: str, col: pd.Series, as_factor: bool) -> GridVar:
    if pd.api.types.is_bool_dtype(col.dtype):
        vals = sorted(set(col.dropna().tolist()))
        return GridVar(name, True, vals, ["TRUE" if v else "FALSE" for v in vals])
    numeric = pd.api.types.is_numeric_dtype(col.dtype) and not isinstance(col.dtype, pd.CategoricalDtype)
    if numeric and as_factor:
        vals = sorted(set(col.dropna().astype(float).tolist()))
        return GridVar(name, True, vals, [r_number_label(v) for v in vals], True)
    if numeric:
        mean = float(col.astype(float).mean())
        return GridVar(name, False, [mean], [r_number_label(mean)], True)
    levels = _factor_levels(m, name, col)
    return GridVar(name, True, list(levels), list(levels))


def _apply_at(v: GridVar, given) -> GridVar:
    vals = list(np.atleast_1d(np.asarray(given, dtype=object)))
    if not vals:
        raise ValueError(f"at: no values given for '{v.name}'")
    if not v.is_factor:
        try:
            num = [float(x) for x in vals]
        except (TypeError, ValueError):
            raise PymerDataError(f"at: '{v.name}' is numeric; its values must be numbers, not {vals!r}") from None
        if not np.all(np.isfinite(num)):
            raise PymerDataError(f"at: values of '{v.name}' must be finite numbers, not {vals!r}")
        return GridVar(v.name, False, num, [r_number_label(x) for x in num], True)
    labels = [str(x) if not isinstance(x, (bool, np.bool_)) else ("TRUE" if x else "FALSE") for x in vals]
    keep = []
    for lab in labels:
        if lab not in v.labels:
            raise PymerDataError(f"at: '{lab}' is not a level of factor '{v.name}' (levels: {v.labels})")
        keep.append(v.labels.index(lab))
    return GridVar(v.name, True, [v.values[i] for i in keep], [v.labels[i] for i in keep], v.numeric)


def grid_variables(m: Any) -> tuple[list[str], set]:
    """The data variables of the fixed part (and offsets), in formula order, and those
    used only through factor()."""
    spec = m.model.mf._spec
    names: list[str] = []
    in_factor: set = set()
    for vs in spec.fixed.vars:
        _names_in(vs.node, names, in_factor)
    for o in spec.offsets:
        _names_in(o, names, in_factor)
    if spec.offset_column is not None and spec.offset_column not in names:
        names.append(spec.offset_column)
    return names, in_factor


def ref_grid(m: Any, at: dict | None = None) -> RefGrid:
    """The reference grid of a fitted model (emmeans' ``ref_grid``).

    Parameters
    ----------
    m : LMMResult or GLMMResult
    at : dict, optional
        Variable name -> value(s): the levels of a factor to keep, or the values of a
        numeric covariate (default: its mean).
    """
    data = model_data(m)
    names, in_factor = grid_variables(m)
    names = [n for n in names if n in data.columns]
    at = dict(at or {})
    unknown = [k for k in at if k not in names]
    if unknown:
        raise PymerDataError(f"at: {unknown[0]!r} is not a variable of the model's fixed effects "
                             f"(variables: {', '.join(names) or 'none'})")
    gvars = []
    for n in names:
        v = _grid_var(m, n, data[n], n in in_factor)
        if n in at:
            v = _apply_at(v, at[n])
        gvars.append(v)
    nlev = [len(v.values) for v in gvars]
    codes = np.array([tuple(reversed(c)) for c in itertools.product(*[range(k) for k in reversed(nlev)])],
                     dtype=np.intp).reshape(-1, len(gvars))
    newdata = pd.DataFrame({v.name: [v.values[i] for i in codes[:, j]] for j, v in enumerate(gvars)})
    for v in gvars:
        col = data[v.name]
        if v.is_factor and isinstance(col.dtype, pd.CategoricalDtype):
            newdata[v.name] = pd.Categorical(newdata[v.name].astype(str), categories=v.labels,
                                             ordered=bool(col.dtype.ordered))
    mf = m.model.mf
    nd = mf.new_data(newdata, include_random=False)
    keep = [mf.fixef_names.index(nm) for nm in m.fixef_names]
    X = np.asarray(nd.X, dtype=np.float64)[:, keep]
    # the offset at every grid point is the mean of the fitted offsets (what emmeans gives
    # for lme4 fits: with offset(log(size)), mean(log(size)), not log(mean(size)))
    off = np.full(len(newdata), 0.0 if mf.offset is None else float(np.mean(mf.offset)))
    return RefGrid(gvars, codes, X, off)
