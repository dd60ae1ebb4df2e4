"""A formula read against a Dask DataFrame: the global encoding, then per-partition pieces.

The encoding (factor levels in R's order, the fixed-effects columns, the random-effects
terms and the sparsity pattern of Z'Z) comes from a *template*: the distinct
combinations of the factor-like columns over the complete rows of every partition
(one pass, reduced with drop_duplicates). Parsed in memory, the template gives the
same levels, model-matrix columns and Z'Z pattern as the whole data would, and its
ModelFrame encodes each partition (``ModelFrame.new_data``) exactly as the fitted data.
"""
from __future__ import annotations

from typing import Any

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd

from .._core._crossprod import crossprod_ztwz
from ..errors import FormulaError, MissingColumnError, PymerDataError
from ..formula import _Evaluator, parse_formula
from ..formula.evaluate import _CONSTANTS
from ..formula.syntax import _BinOp, _Call, _deparse, _Name, _Paren, _split_formula, _Unary
from ..terms import RandomEffects

_FACTOR_FUNS = {"factor", "as.factor", "ordered", "as.ordered"}
# data-dependent terms (scale(), poly(), ns(), bs()) get their statistics over all
# partitions: see scale_calls, pymer.dask.poly and pymer.dask.splines


def _walk(node, inside_factor=False, inside_group=False):
    """Yield (name, factor_like) for every variable of a formula tree."""
    if isinstance(node, _Name):
        yield node.name, inside_factor or inside_group
    elif isinstance(node, _Call):
        fn = node.fn.name
        for _, a in node.args:
            yield from _walk(a, inside_factor or fn in _FACTOR_FUNS, inside_group)
    elif isinstance(node, _BinOp):
        if node.op in ("|", "||"):
            yield from _walk(node.lhs, inside_factor, inside_group)
            yield from _walk(node.rhs, inside_factor, True)
        else:
            yield from _walk(node.lhs, inside_factor, inside_group)
            yield from _walk(node.rhs, inside_factor, inside_group)
    elif isinstance(node, (_Paren, _Unary)):
        yield from _walk(node.x, inside_factor, inside_group)


def scale_calls(formula) -> list:
    """The scale() calls of a formula (their centre and scale come from all rows)."""
    out: list = []

    def visit(node, inside):
        if isinstance(node, _Call):
            if node.fn.name == "scale":
                if inside:
                    raise NotImplementedError(f"nested scale() in '{_deparse(node)}' is not "
                                              "supported on a Dask DataFrame")
                if all(_deparse(node) != _deparse(o) for o in out):
                    out.append(node)
            for _, a in node.args:
                visit(a, inside or node.fn.name == "scale")
        elif isinstance(node, _BinOp):
            visit(node.lhs, inside)
            visit(node.rhs, inside)
        elif isinstance(node, (_Paren, _Unary)):
            visit(node.x, inside)

    for node in _split_formula(formula):
        visit(node, False)
    return out


def _scale_args(ev, node):
    a = ev._args(node, ["x", "center", "scale"])
    if "x" not in a:
        raise FormulaError(f"missing argument in '{_deparse(node)}'")
    center = ev._const(a["center"], "center") if "center" in a else True
    scale = ev._const(a["scale"], "scale") if "scale" in a else True
    return ev._numeric(a["x"], "scale()"), center, scale


def scale_sums(part, calls, centers=None):
    """Per scale() call, over the partition's non-missing values of its argument (all rows,
    as R's model.frame evaluates it before na.omit): [count, sum] when `centers` is None,
    else the sum of squares about the centre."""
    ev = _Evaluator(part, {}, fitting=True)
    out = []
    for i, node in enumerate(calls):
        x, _, _ = _scale_args(ev, node)
        x = x[~np.isnan(x)]
        out.append(np.array([x.size, x.sum()]) if centers is None
                   else float(np.sum((x - centers[i]) ** 2)))
    return tuple(out)


class _ConstantsOnly:
    """An evaluator that reads scale()'s constant arguments without evaluating x."""

    def __init__(self):
        self.ev = _Evaluator(pd.DataFrame(), {}, fitting=True)

    def _args(self, node, names):
        return self.ev._args(node, names)

    def _const(self, node, what):
        return self.ev._const(node, what)

    def _numeric(self, node, fn):
        return None


def scale_centers(calls, counts_sums):
    """The centre of each scale() call: the mean of all rows (center = TRUE), 0 or the constant."""
    out = []
    for node, (m, total) in zip(calls, counts_sums):
        _, center, _ = _scale_args(_ConstantsOnly(), node)
        if center is True:
            out.append(total / m if m else np.nan)
        else:
            out.append(0.0 if center is False else float(center))
    return out


def scale_state(calls, counts_sums, centers, sumsq):
    """(centre, scale) of each scale() call, as ``_Evaluator`` keeps them in its state."""
    state = {}
    for i, node in enumerate(calls):
        _, _, scale = _scale_args(_ConstantsOnly(), node)
        m = counts_sums[i][0]
        if scale is True:
            sc = float(np.sqrt(sumsq[i] / max(m - 1, 1))) if m else np.nan
        else:
            sc = 1.0 if scale is False else float(scale)
        state["scale:" + _deparse(node)] = (centers[i], sc)
    return state


def used_columns(formula, columns, weights=None, offset=None):
    """(response node, used columns, factor-like columns) of a formula against `columns`.

    Raises the in-memory errors for a missing column or an unsupported term, before
    any data are read.
    """
    lhs, rhs = _split_formula(formula)
    cols = {str(c): c for c in columns}
    used, factor_like = [], []
    for node in (lhs, rhs):
        for name, fac in _walk(node):
            if name not in cols:
                if name in _CONSTANTS:
                    continue
                raise MissingColumnError(name, list(columns))
            c = cols[name]
            if c not in used:
                used.append(c)
            if fac and c not in factor_like:
                factor_like.append(c)
    for what, arg in (("weights", weights), ("offset", offset)):
        if arg is None:
            continue
        if not isinstance(arg, str):
            raise NotImplementedError(f"{what}= on a Dask DataFrame must be a column name "
                                      f"(a vector of one value per row is not partitioned)")
        if arg not in cols:
            raise MissingColumnError(arg, list(columns), what=f"{what} column")
        if cols[arg] not in used:
            used.append(cols[arg])
    return lhs, used, factor_like


def check_column_types(meta: pd.DataFrame, lhs, used, factor_like):
    """Errors that the dtypes alone decide: a non-numeric response column, a numeric
    column that is text in the frame's schema."""
    lhs_u = lhs.x if isinstance(lhs, _Paren) else lhs
    if isinstance(lhs_u, _Name) and lhs_u.name in meta.columns:
        dt = meta[lhs_u.name].dtype
        if not pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt):
            raise PymerDataError(
                f"response '{lhs_u.name}' is a factor (column of type {dt}); a linear mixed "
                "model needs a numeric response")
    for c in used:
        dt = meta[c].dtype
        if pd.api.types.is_datetime64_any_dtype(dt) or pd.api.types.is_complex_dtype(dt):
            raise PymerDataError(f"column '{c}' is of type {dt}; pymer needs numbers, strings "
                                 "or categories")


def factor_like_columns(meta: pd.DataFrame, used, factor_like):
    """Columns whose distinct values decide the encoding: text, categories, booleans, and
    numbers used as grouping factors or inside factor()."""
    out = list(factor_like)
    for c in used:
        dt = meta[c].dtype
        if c not in out and (not pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt)):
            out.append(c)
    return out


def complete_rows(part: pd.DataFrame, used) -> pd.DataFrame:
    """The rows with no missing value in a used column (R's na.omit)."""
    sub = part[list(used)]
    return sub[sub.notna().all(axis=1).to_numpy()]


def template_chunk(part: pd.DataFrame, used, keys) -> pd.DataFrame:
    """One partition's distinct combinations of the factor-like columns (complete rows)."""
    sub = complete_rows(part, used)
    return sub.drop_duplicates(subset=list(keys)) if keys else sub.iloc[:1]


def combine_templates(chunks, keys, categories, dedupe=True) -> pd.DataFrame:
    """Union of the partitions' templates; categoricals get their global categories
    (``dedupe=False``: all rows of the chunks, no reduction)."""
    chunks = [c for c in chunks if len(c)]
    if not chunks:
        raise PymerDataError("no complete rows: every row has a missing value in a variable "
                             "of the formula")
    for c in chunks:
        for col, dtype in categories.items():
            c[col] = c[col].astype(dtype)
    t = pd.concat(chunks, ignore_index=True)
    if not dedupe:
        return t
    return t.drop_duplicates(subset=list(keys)).reset_index(drop=True) if keys else t.iloc[:1]


@dataclass
class Design:
    """What every partition needs to compute its cross-products, and the fit needs after.

    ``mf`` is the template's ModelFrame (its ``_spec`` encodes new rows), ``keep`` the
    fixed-effects columns kept after the global aliasing check, ``re`` the template's
    random-effects terms (lme4's order, global levels), ``colptr``/``rowind`` the
    pattern of Z'Z.
    """

    formula: str
    lhs: object
    used: list
    categories: dict
    weights: str | None
    mf: Any
    keep: list
    re: RandomEffects
    colptr: np.ndarray
    rowind: np.ndarray

    @classmethod
    def from_template(cls, formula, lhs, used, categories, template, weights, offset):
        mf = parse_formula(formula, template, weights=weights, offset=offset)
        re = RandomEffects.from_formula_terms(mf.random, mf.n)
        zcols, _ = re.zrows()
        colptr, rowind = re.pattern(zcols)
        return cls(formula, lhs, used, categories, weights, mf, list(range(len(mf.fixef_names))),
                   re, colptr, rowind)

    # ---- one partition ---------------------------------------------------------------
    def response(self, ev) -> np.ndarray:
        """The response of a partition's complete rows (numeric: a linear mixed model's)."""
        yv = ev.eval(self.lhs)
        if yv.kind == "fac":
            raise PymerDataError(f"response '{self.mf.response_name}' is a factor; a linear mixed "
                                 "model needs a numeric response")
        return np.asarray(yv.data, dtype=np.float64)

    def rows(self, part: pd.DataFrame):
        """(X kept columns, y, offset, weights, RandomEffects) of a partition's complete rows."""
        part = complete_rows(part, self.used)
        for col, dtype in self.categories.items():
            part = part.assign(**{col: part[col].astype(dtype)})
        n = len(part)
        nd = self.mf.new_data(part, include_random=True)
        X = np.ascontiguousarray(np.asarray(nd.X, dtype=np.float64)[:, self.keep])
        y = self.response(_Evaluator(part, self.mf._spec.state, fitting=False))
        if np.isinf(y).any():
            raise PymerDataError(f"'{self.mf.response_name}' has infinite values "
                                 f"({int(np.isinf(y).sum())} rows); remove or fix them")
        off = np.zeros(n) if nd.offset is None else np.asarray(nd.offset, dtype=np.float64)
        w = None
        if self.weights is not None:
            w = part[self.weights].to_numpy(dtype=np.float64)
            if not np.all(np.isfinite(w)) or np.any(w < 0):
                raise PymerDataError(f"weights column '{self.weights}' has negative or "
                                     "non-finite values")
        terms = [SimpleNamespace(group=rt.group, colnames=rt.colnames, levels=rt.levels,
                                 codes=codes, X=Xl, lhs=rt.lhs)
                 for rt, (Xl, codes) in zip(self.mf.random, nd.random)]
        return X, y, off, w, RandomEffects.from_formula_terms(terms, n)

    def normal_equations(self, part):
        """(n, X'WX, X'W(y - offset), sum of log weights, rows with weight > 0, X'X,
        (y - offset)'W(y - offset), Range of y, RFactor of X's rows with weight > 0) of one
        partition."""
        p = len(self.keep)
        if not len(complete_rows(part, self.used)):
            return (0, np.zeros((p, p)), np.zeros(p), 0.0, 0, np.zeros((p, p)), 0.0, Range(),
                    RFactor(np.zeros((0, p))))
        X, y, off, w, _ = self.rows(part)
        ww = np.ones(len(y)) if w is None else w
        WX = X * ww[:, None]
        logw = float(np.sum(np.log(w[w > 0]))) if w is not None else 0.0
        npos = int(np.sum(ww > 0))
        yo = y - off
        ypos = y[ww > 0]
        rng = Range(float(ypos.min()), float(ypos.max())) if ypos.size else Range()
        return (len(y), WX.T @ X, WX.T @ yo, logw, npos, X.T @ X, float(yo @ (ww * yo)), rng,
                RFactor(X[ww > 0]))

    def crossproducts(self, part, beta0):
        """Z'WZ (on the pattern), Z'W[X r], [X r]'W[X r] of one partition, r = y - offset - X beta0;
        with prior weights, the same three again with W the indicator of w > 0 (the
        unweighted level statistics of the moment start)."""
        p = len(self.keep)
        nw = 1 if self.weights is None else 2
        if not len(complete_rows(part, self.used)):
            return (np.zeros(self.rowind.shape[0]), np.zeros((self.re.q, p + 1)),
                    np.zeros((p + 1, p + 1))) * nw
        X, y, off, w, re = self.rows(part)
        r = y - off - X @ beta0
        zcols, zvals = re.zrows()
        Z = re.Z()
        Xr = np.column_stack([X, r])
        out = ()
        for ww in ([np.ones(len(y))] if w is None else [w, (w > 0).astype(np.float64)]):
            ztz = np.zeros(self.rowind.shape[0])
            crossprod_ztwz(self.colptr, self.rowind, zcols, zvals, ww, ztz)
            WXr = Xr * ww[:, None]
            out += (ztz, np.asarray(Z.T @ WXr), Xr.T @ WXr)
        return out


class Range:
    """Smallest and largest value; ``+`` combines two ranges (for the tree reduction)."""

    def __init__(self, lo=np.inf, hi=-np.inf):
        self.lo, self.hi = lo, hi

    def __add__(self, other):
        return Range(min(self.lo, other.lo), max(self.hi, other.hi))


class RFactor:
    """The triangular factor R of the QR decomposition of some rows of X (R'R = X'X over
    them); ``+`` gives the R of both sets of rows (a QR of the two stacked factors: TSQR).
    Its columns have X's residual norms on the earlier columns, computed without squaring
    X's condition number as X'X would, so the in-memory aliasing rule
    (:func:`pymer.validate.drop_aliased_columns`) judges the columns from R as from X."""

    def __init__(self, X: np.ndarray) -> None:
        X = np.asarray(X, dtype=np.float64)
        self.R = np.linalg.qr(X, mode="r") if X.shape[0] > X.shape[1] else X

    def __add__(self, other: "RFactor") -> "RFactor":
        return RFactor(np.vstack([self.R, other.R]))


def add(a, b):
    """Sum of two partitions' reductions (tuples of numbers and arrays)."""
    return tuple(x + y for x, y in zip(a, b))

