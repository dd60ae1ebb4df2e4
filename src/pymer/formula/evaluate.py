"""Evaluating formula expressions on data, as R's model.frame() does.

Each variable of a formula (a column, ``log(x)``, ``factor(g)``, ``scale(x)``,
``I(x^2)``, ...) evaluates to a :class:`_Value`: numeric, logical or a factor
with R's level order and labels. What must be reused for new data (factor
levels, ``scale()`` centres and scales) is kept in a state dictionary.
"""
from __future__ import annotations

import functools
import math
import weakref

import numpy as np
import pandas as pd

from ..errors import FormulaError, MissingColumnError, PymerDataError, warn
from .contrasts import CONTRAST_FUNCTIONS
from .splines import poly_basis, poly_predict, poly_raw, spline_basis, spline_knots
from .syntax import (_BinOp, _Call, _contains_bar, _deparse, _Name, _Node, _Num, _Paren, _Str,
                     _Unary, _unparen, r_number_label)


# =============================================================================
# Values: what a variable evaluates to
# =============================================================================


class _Value:
    """An evaluated variable: numeric ('num', float64 with NaN as NA), logical
    ('lgl', float64 0/1/NaN) or factor ('fac', intp codes with -1 as NA).

    A matrix-valued numeric variable (``poly(x, 2)``, ``ns(x, 3)``) has 2-D data and
    `cols`, the suffixes R appends to its name for each column. A factor may carry
    `contrasts`, the contrasts ``C(f, contr.sum)`` gave it (a contr.* name or a matrix).
    """

    __slots__ = ("kind", "data", "levels", "ordered", "cols", "contrasts")

    def __init__(self, kind, data, levels=None, ordered=False, cols=None, contrasts=None):
        self.kind, self.data, self.levels, self.ordered = kind, data, levels, ordered
        self.cols, self.contrasts = cols, contrasts

    @property
    def na(self) -> np.ndarray:
        if self.kind == "fac":
            return self.data < 0
        if self.data.ndim == 2:
            return np.isnan(self.data).any(axis=1)
        return np.isnan(self.data)

    def take(self, rows: np.ndarray) -> "_Value":
        return _Value(self.kind, self.data[rows], self.levels, self.ordered, self.cols,
                      self.contrasts)


def _num(data) -> _Value:
    return _Value("num", np.asarray(data, dtype=np.float64))


def _sorted_factor(codes: np.ndarray, labels: list[str], order: list[int],
                   ordered: bool = False) -> _Value:
    """Factor with levels `labels` reordered by `order`; duplicate labels are merged."""
    new_labels: list[str] = []
    rank = np.empty(len(labels), dtype=np.intp)
    seen: dict[str, int] = {}
    for i in order:
        lab = labels[i]
        if lab not in seen:
            seen[lab] = len(new_labels)
            new_labels.append(lab)
        rank[i] = seen[lab]
    codes = np.asarray(codes, dtype=np.intp)
    out = np.full(codes.shape, -1, dtype=np.intp)
    ok = codes >= 0
    out[ok] = rank[codes[ok]]
    return _Value("fac", out, new_labels, ordered)


def _factor_from_strings(values) -> _Value:
    """Strings -> factor with levels in C-locale (code point) order, as R under LC_COLLATE=C."""
    codes, uniques = pd.factorize(pd.Series(values, copy=False), use_na_sentinel=True)
    labels = [str(u) for u in uniques]
    order = sorted(range(len(labels)), key=labels.__getitem__)
    return _sorted_factor(codes, labels, order)


def _as_factor(v: _Value, what: str = "") -> _Value:
    """R's factor(x): numbers sorted numerically with R's labels, logicals FALSE < TRUE."""
    if v.kind == "fac":
        return v
    data = v.data
    if data.ndim != 1:
        raise PymerDataError(f"'{what}' is a matrix; it cannot be a factor")
    ok = ~np.isnan(data)
    uniq, inv = np.unique(data[ok], return_inverse=True)
    codes = np.full(data.shape, -1, dtype=np.intp)
    codes[ok] = inv
    if v.kind == "lgl":
        labels = ["TRUE" if u else "FALSE" for u in uniq]
    else:
        if np.isinf(uniq).any():
            raise PymerDataError(f"variable '{what}' has infinite values")
        labels = [r_number_label(u) for u in uniq]
    return _sorted_factor(codes, labels, list(range(len(labels))))


_LABELS: dict[int, tuple] = {}     # id(categories) -> (weak reference to them, their labels)


def _category_labels(cats: pd.Index) -> list[str]:
    """R's labels of a categorical's categories (a new list). They are remembered for as
    long as the (immutable) categories Index lives, so refitting the same data does not
    convert them again; a new or changed categorical has a new Index."""
    key = id(cats)
    hit = _LABELS.get(key)
    if hit is not None and hit[0]() is cats:
        return list(hit[1])
    labels = _compute_category_labels(cats)
    try:
        ref = weakref.ref(cats, functools.partial(_forget_labels, key))
    except TypeError:              # an Index that cannot be weakly referenced: no caching
        return labels
    _LABELS[key] = (ref, tuple(labels))
    return labels


def _forget_labels(key: int, ref) -> None:
    """A categories Index died: drop its entry (unless its id already labels a newer one)."""
    hit = _LABELS.get(key)
    if hit is not None and hit[0] is ref:
        del _LABELS[key]


def _compute_category_labels(cats: pd.Index) -> list[str]:
    if pd.api.types.is_numeric_dtype(cats.dtype) and not pd.api.types.is_bool_dtype(cats.dtype):
        return [r_number_label(c) for c in cats]
    if pd.api.types.is_bool_dtype(cats.dtype):
        return ["TRUE" if c else "FALSE" for c in cats]
    # through a numpy object array: iterating an Arrow-backed index is slow
    return [str(c) for c in cats.to_numpy(dtype=object)]


def _column_value(s: pd.Series, name: str, colnames=None) -> _Value:
    """A data column as R would see it after model.frame()."""
    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype):
        labels = _category_labels(dt.categories)
        codes = np.asarray(s.cat.codes.to_numpy(), dtype=np.intp)
        if len(set(labels)) != len(labels):
            return _sorted_factor(codes, labels, list(range(len(labels))), bool(dt.ordered))
        return _Value("fac", codes, labels, bool(dt.ordered))
    if pd.api.types.is_bool_dtype(dt):
        return _Value("lgl", s.to_numpy(dtype=np.float64, na_value=np.nan))
    if pd.api.types.is_complex_dtype(dt):
        raise PymerDataError(f"column '{name}' is complex; pymer needs real numbers")
    if pd.api.types.is_numeric_dtype(dt):
        return _num(s.to_numpy(dtype=np.float64, na_value=np.nan))
    if (pd.api.types.is_datetime64_any_dtype(dt) or pd.api.types.is_timedelta64_dtype(dt)
            or isinstance(dt, pd.PeriodDtype)):
        raise PymerDataError(
            f"column '{name}' holds dates/times ({dt}); convert it to numbers (e.g. days "
            "since a start date) or to strings/categories first")
    if dt == object and len(s) and isinstance(s.iloc[0], (np.ndarray, list, tuple)):
        return _matrix_column(s, name, colnames)
    if dt == object:
        kind = pd.api.types.infer_dtype(s, skipna=True)
        if kind == "boolean":
            return _Value("lgl", s.to_numpy(dtype=np.float64, na_value=np.nan))
        if kind in ("integer", "floating", "mixed-integer-float", "decimal", "empty"):
            return _num(pd.to_numeric(s).to_numpy(dtype=np.float64, na_value=np.nan))
    return _factor_from_strings(s)


def _fast_column(data: pd.DataFrame, name: str) -> _Value | None:
    """A column of a categorical or plain numeric (or bool) numpy dtype read without making
    a Series: what :func:`_column_value` gives for it, or None to take the general path.

    The general path builds a pandas Series per column (which copies the frame's
    ``attrs``) and converts through pandas; for these dtypes the column's array says
    everything. The values are always copied, never views of the caller's data.
    """
    get_array = getattr(data, "_get_column_array", None)
    if get_array is None:
        return None
    try:
        i = data.columns.get_loc(name)
    except (KeyError, TypeError, pd.errors.InvalidIndexError):
        return None
    if not isinstance(i, (int, np.integer)):
        return None                       # duplicated labels: the general path's error
    arr = get_array(i)
    if isinstance(arr, pd.Categorical):
        dt = arr.dtype
        labels = _category_labels(dt.categories)
        codes = np.array(arr.codes, dtype=np.intp)
        if len(set(labels)) != len(labels):
            return _sorted_factor(codes, labels, list(range(len(labels))), bool(dt.ordered))
        return _Value("fac", codes, labels, bool(dt.ordered))
    if type(arr) is np.ndarray and arr.ndim == 1:
        kind = arr.dtype.kind
        if kind in "fiu":
            return _Value("num", np.array(arr, dtype=np.float64))
        if kind == "b":
            return _Value("lgl", np.array(arr, dtype=np.float64))
    return None


def _matrix_column(s: pd.Series, name: str, colnames=None) -> _Value:
    """A column whose cells are rows of a matrix (R's matrix-valued data column): a numeric
    matrix variable, its columns named by `colnames` or numbered as R numbers them."""
    try:
        M = np.array([np.asarray(r, dtype=np.float64) for r in s.to_numpy()], dtype=np.float64)
    except (TypeError, ValueError):
        raise PymerDataError(f"column '{name}' holds arrays that are not rows of one numeric matrix "
                             "(every cell needs the same number of numbers)") from None
    if M.ndim != 2:
        raise PymerDataError(f"column '{name}' holds arrays that are not rows of one numeric matrix")
    cols = [str(c) for c in colnames] if colnames is not None and len(colnames) == M.shape[1] \
        else [str(k) for k in range(1, M.shape[1] + 1)]
    return _Value("num", M, cols=cols)


def _drop_unused(v: _Value) -> _Value:
    """Drop factor levels that no (kept) row uses, keeping the order (lme4 does this)."""
    if v.kind != "fac":
        return v
    d = v.data
    # no missing value (the usual case): count the codes as they are
    counts = np.bincount(d if d.size and d.min() >= 0 else d[d >= 0], minlength=len(v.levels))
    if counts.all():
        return v
    used = counts > 0
    newcode = np.cumsum(used) - 1
    data = np.where(v.data >= 0, newcode[np.maximum(v.data, 0)], -1).astype(np.intp)
    contrasts = v.contrasts if isinstance(v.contrasts, str) else None
    if v.contrasts is not None and contrasts is None:
        raise PymerDataError(f"levels {[l for l, u in zip(v.levels, used) if not u]} of a factor "
                             "with a contrast matrix do not occur in the rows used; the matrix "
                             "no longer fits its levels")
    return _Value("fac", data, [l for l, u in zip(v.levels, used) if u], v.ordered,
                  contrasts=contrasts)


def _recode(v: _Value, levels: list[str]) -> tuple[np.ndarray, list[str]]:
    """Codes of factor `v` in the training `levels` (-1: unseen level), and the unseen labels."""
    index = {lab: i for i, lab in enumerate(levels)}
    lut = np.array([index.get(lab, -1) for lab in v.levels] + [-1], dtype=np.intp)
    codes = lut[np.where(v.data >= 0, v.data, len(v.levels))]
    present = np.zeros(len(v.levels) + 1, dtype=bool)
    present[v.data[v.data >= 0]] = True
    new = [lab for i, lab in enumerate(v.levels) if present[i] and lut[i] < 0]
    return codes, new


# =============================================================================
# Evaluating expressions on data (a small R-like evaluator)
# =============================================================================

_MATH1 = {
    "log10": np.log10, "log2": np.log2, "log1p": np.log1p, "exp": np.exp, "expm1": np.expm1,
    "sqrt": np.sqrt, "abs": np.abs, "sin": np.sin, "cos": np.cos, "tan": np.tan,
    "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "sinh": np.sinh,
    "cosh": np.cosh, "tanh": np.tanh, "floor": np.floor, "ceiling": np.ceil,
    "trunc": np.trunc, "sign": np.sign,
}
_PACKAGES = ("base", "stats", "splines", "lme4")
_CONSTANTS = {"pi": math.pi, "TRUE": True, "T": True, "FALSE": False, "F": False,
              "Inf": math.inf, "NaN": math.nan, "NA": math.nan}


class _Evaluator:
    """Evaluates formula expressions on a DataFrame.

    `state` keeps what must be reused for new data (scale() centres, factor levels);
    it is filled when `fitting` and read otherwise.
    """

    def __init__(self, data: pd.DataFrame, state: dict, fitting: bool):
        self.data = data
        self.n = len(data)
        self.state = state
        self.fitting = fitting
        self.cache: dict[str, _Value] = {}

    def column(self, name: str) -> _Value:
        key = "`" + name
        if key in self.cache:
            return self.cache[key]
        v = _fast_column(self.data, name)
        if v is not None:
            self.cache[key] = v
            return v
        cols = self.data.columns
        if name in cols:
            s = self.data[name]
        else:
            matches = [c for c in cols if str(c) == name]
            if not matches:
                if name in _CONSTANTS:
                    c = _CONSTANTS[name]
                    return _Value("lgl" if isinstance(c, bool) else "num",
                                  np.full(self.n, float(c)))
                raise MissingColumnError(name, cols)
            s = self.data[matches[0]]
        if isinstance(s, pd.DataFrame):
            raise PymerDataError(f"the data has several columns named '{name}'")
        v = _column_value(s, name, self.data.attrs.get("matrix_colnames", {}).get(name))
        if (self.fitting and v.kind == "fac" and not isinstance(s.dtype, pd.CategoricalDtype)
                and 2 * len(v.levels) > self.n):
            warn(
                f"column '{name}' holds text with {len(v.levels)} distinct values in {self.n} "
                f"rows; it is used as a factor with {len(v.levels)} levels (if these are dates "
                "or numbers, convert the column first)", UserWarning)
        self.cache[key] = v
        return v

    def eval(self, node: _Node, key: str | None = None) -> _Value:
        """The value of `node` (`key`: its R name, ``_deparse(node)``, when known)."""
        if key is None:
            key = _deparse(node)
        v = self.cache.get(key)
        if v is None:
            v = self._eval(node)
            if v.kind == "num" and v.data.ndim == 0:
                v = _num(np.full(self.n, float(v.data)))
            if v.kind != "fac" and v.data.ndim == 2 and v.cols is None:
                v.cols = self._matrix_names(node, v.data.shape[1])
            self.cache[key] = v
        return v

    def _matrix_names(self, node: _Node, width: int) -> list[str]:
        """Column names of a matrix computed from a matrix (log(X), X + 1): R keeps them."""
        if isinstance(node, _BinOp):
            children = [node.lhs, node.rhs]
        elif isinstance(node, (_Paren, _Unary)):
            children = [node.x]
        elif isinstance(node, _Call):
            children = [a for _, a in node.args]
        else:
            children = []
        for c in children:
            v = self.cache.get(_deparse(c))
            if v is not None and v.cols is not None and len(v.cols) == width:
                return list(v.cols)
        return [str(k) for k in range(1, width + 1)]

    def _numeric(self, node: _Node, fn: str) -> np.ndarray:
        v = self.eval(node)
        if v.kind == "fac":
            raise FormulaError(
                f"'{_deparse(node)}' is a factor; {fn} is not meaningful for factors")
        return v.data

    def _eval(self, node: _Node) -> _Value:
        if isinstance(node, _Name):
            return self.column(node.name)
        if isinstance(node, _Num):
            return _num(np.full(self.n, node.value))
        if isinstance(node, _Paren):
            return self.eval(node.x)
        if isinstance(node, _Str):
            raise FormulaError(f"a string {_deparse(node)} cannot be used as a variable")
        if isinstance(node, _Unary):
            if node.op == "!":
                x = self._numeric(node.x, "'!'")
                return _Value("lgl", np.where(np.isnan(x), np.nan, (x == 0).astype(float)))
            if node.op in "+-":
                x = self._numeric(node.x, f"unary '{node.op}'")
                return _num(-x if node.op == "-" else x)
            raise FormulaError(f"'{_deparse(node)}': a formula cannot be used as a variable")
        if isinstance(node, _BinOp):
            return self._binop(node)
        if isinstance(node, _Call):
            return self._call(node)
        raise FormulaError(f"cannot evaluate '{_deparse(node)}'")  # pragma: no cover

    def _binop(self, node: _BinOp) -> _Value:
        op = node.op
        if op in ("|", "||") and _contains_bar(node):
            raise FormulaError(
                f"random-effects term '{_deparse(node)}' must be enclosed in parentheses "
                "and added at the top level of the formula")
        if op == "~":
            raise FormulaError(f"'{_deparse(node)}': a formula cannot be used as a variable")
        if op in ("==", "!=") and (isinstance(node.rhs, _Str) or isinstance(node.lhs, _Str)):
            other, s = (node.lhs, node.rhs) if isinstance(node.rhs, _Str) else (node.rhs, node.lhs)
            assert isinstance(s, _Str)      # one side is a string (the test above)
            v = self.eval(other)
            if v.kind == "fac":
                lab = s.value
                idx = v.levels.index(lab) if lab in v.levels else -2
                eq = (v.data == idx).astype(float)
            else:
                try:
                    num = float(s.value)
                except ValueError:
                    num = math.nan
                eq = (v.data == num).astype(float)
            out = eq if op == "==" else 1.0 - eq
            return _Value("lgl", np.where(v.na, np.nan, out))
        a = self._numeric(node.lhs, f"'{op}'")
        b = self._numeric(node.rhs, f"'{op}'")
        if a.ndim != b.ndim:            # a vector recycles down a matrix's columns, as in R
            a, b = (a[:, None], b) if a.ndim == 1 else (a, b[:, None])
        with np.errstate(all="ignore"):
            if op == "+":
                return _num(a + b)
            if op == "-":
                return _num(a - b)
            if op == "*":
                return _num(a * b)
            if op == "/":
                return _num(a / b)
            if op == "^":
                return self._checked(np.power(a, b), node, a, b)
            if op == "%%":
                return _num(np.where(b == 0, np.nan, np.mod(a, b)))
            if op == "%/%":
                return _num(np.floor_divide(a, b))
            cmp = {"==": np.equal, "!=": np.not_equal, "<": np.less, ">": np.greater,
                   "<=": np.less_equal, ">=": np.greater_equal}
            if op in cmp:
                out = cmp[op](a, b).astype(float)
                return _Value("lgl", np.where(np.isnan(a) | np.isnan(b), np.nan, out))
            if op in ("&", "&&"):
                out = ((a != 0) & (b != 0)).astype(float)
                na = (np.isnan(a) & ~(b == 0)) | (np.isnan(b) & ~(a == 0))
                return _Value("lgl", np.where(na, np.nan, out))
            if op in ("|", "||"):
                out = (((a != 0) & ~np.isnan(a)) | ((b != 0) & ~np.isnan(b))).astype(float)
                na = (np.isnan(a) | np.isnan(b)) & (out == 0)
                return _Value("lgl", np.where(na, np.nan, out))
        raise FormulaError(f"operator '{op}' is not supported in '{_deparse(node)}'")

    def _checked(self, out, node, *inputs) -> _Value:
        new_nan = np.isnan(out)
        for x in inputs:
            new_nan &= ~np.isnan(x)
        if new_nan.any():
            warn(f"NaNs produced in '{_deparse(node)}' ({int(new_nan.sum())} rows); "
                 "those rows are treated as missing", RuntimeWarning)
        return _num(out)

    def _args(self, node: _Call, names: list[str], required=None) -> dict:
        """Match a call's arguments to `names` as R does (by name, then by position).
        `required` (default: the first name) must be given."""
        out, positional = {}, []
        for nm, a in node.args:
            if nm is None:
                positional.append(a)
                continue
            full = [p for p in names if p == nm] or [p for p in names if p.startswith(nm)]
            if len(full) != 1:
                raise FormulaError(f"unknown argument '{nm}' in '{_deparse(node)}'")
            if full[0] in out:
                raise FormulaError(f"argument '{full[0]}' given twice in '{_deparse(node)}'")
            out[full[0]] = a
        free = [p for p in names if p not in out]
        if len(positional) > len(free):
            raise FormulaError(f"too many arguments in '{_deparse(node)}'")
        out.update(zip(free, positional))
        for r in (names[:1] if required is None else required):
            if r not in out:
                raise FormulaError(f"missing argument '{r}' in '{_deparse(node)}'")
        return out

    def _const(self, node: _Node, what: str):
        node = _unparen(node)
        if isinstance(node, _Num):
            return node.value
        if isinstance(node, _Str):
            return node.value
        if isinstance(node, _Name) and node.name in _CONSTANTS:
            return _CONSTANTS[node.name]
        if isinstance(node, _Unary) and node.op == "-" and isinstance(x := _unparen(node.x), _Num):
            return -x.value
        if isinstance(node, _Call) and isinstance(node.fn, _Name) and node.fn.name == "c":
            return [self._const(a, what) for _, a in node.args]
        raise FormulaError(f"{what} must be a constant, not '{_deparse(node)}'")

    def _call(self, node: _Call) -> _Value:
        fn = node.fn.name
        key = _deparse(node)
        if "::" in fn:
            pkg, _, fn = fn.partition("::")
            fn = fn.lstrip(":")
            if pkg not in _PACKAGES:
                raise FormulaError(f"functions of package '{pkg}' are not available in pymer "
                                   f"formulas: '{key}'")
        if fn == "I":
            if len(node.args) != 1:
                raise FormulaError(f"I() takes one argument: '{key}'")
            return self.eval(node.args[0][1])
        if fn in _MATH1:
            a = self._args(node, ["x"])
            if "x" not in a:
                raise FormulaError(f"missing argument in '{key}'")
            x = self._numeric(a["x"], f"{fn}()")
            with np.errstate(all="ignore"):
                return self._checked(_MATH1[fn](x), node, x)
        if fn == "log":
            a = self._args(node, ["x", "base"])
            x = self._numeric(a["x"], "log()")
            with np.errstate(all="ignore"):
                out = np.log(x)
                if "base" in a:
                    out = out / np.log(self._numeric(a["base"], "log()"))
            return self._checked(out, node, x)
        if fn == "round":
            a = self._args(node, ["x", "digits"])
            d = self._const(a["digits"], "digits") if "digits" in a else 0
            if not isinstance(d, (int, float)) or not math.isfinite(d) or abs(d) > 400:
                raise FormulaError(f"digits must be a whole number, not {d!r}, in '{key}'")
            d = int(d)
            return _num(np.round(self._numeric(a["x"], "round()"), d))
        if fn in ("pmin", "pmax"):
            if not node.args or any(nm is not None for nm, _ in node.args):
                raise FormulaError(f"{fn}() takes one or more unnamed arguments: '{key}'")
            xs = [self._numeric(a, f"{fn}()") for _, a in node.args]
            f = np.minimum if fn == "pmin" else np.maximum
            out = xs[0]
            for x in xs[1:]:
                out = f(out, x)
            return _num(out)
        if fn == "ifelse":
            a = self._args(node, ["test", "yes", "no"], required=["test", "yes", "no"])
            t = self._numeric(a["test"], "ifelse()")
            yes, no = self.eval(a["yes"]), self.eval(a["no"])
            if yes.kind == "fac" or no.kind == "fac":
                raise FormulaError(f"ifelse() of factors is not supported: '{key}'")
            out = np.where(t != 0, yes.data, no.data)
            kind = "lgl" if yes.kind == no.kind == "lgl" else "num"
            return _Value(kind, np.where(np.isnan(t), np.nan, out))
        if fn in ("as.numeric", "as.double", "as.integer"):
            a = self._args(node, ["x"])
            v = self.eval(a["x"])
            data = v.data.astype(np.float64) + 1.0 if v.kind == "fac" else v.data
            data = np.where(v.na, np.nan, data)
            if fn == "as.integer":
                data = np.trunc(data)
            return _num(data)
        if fn == "as.logical":
            a = self._args(node, ["x"])
            x = self._numeric(a["x"], "as.logical()")
            return _Value("lgl", np.where(np.isnan(x), np.nan, (x != 0).astype(float)))
        if fn in ("factor", "as.factor", "ordered", "as.ordered"):
            return self._factor(node, fn)
        if fn == "scale":
            return self._scale(node)
        if fn in ("offset", "cbind"):
            raise FormulaError(f"{fn}() cannot be used inside another expression: '{key}'")
        if fn == "poly":
            return self._poly(node)
        if fn in ("ns", "bs"):
            return self._spline(node, fn)
        if fn == "C":
            return self._contrasts(node)
        if fn == "relevel":
            return self._relevel(node)
        if fn == "dummy":
            return self._dummy(node)
        raise FormulaError(f"unknown function {fn}() in '{key}'")

    def _factor(self, node: _Call, fn: str) -> _Value:
        key = _deparse(node)
        a = self._args(node, ["x", "levels", "labels"] if fn in ("factor", "ordered") else ["x"])
        if "x" not in a:
            raise FormulaError(f"missing argument in '{key}'")
        v = self.eval(a["x"])
        ordered = fn in ("ordered", "as.ordered") or (fn == "factor" and v.ordered)
        f = _as_factor(v, _deparse(a["x"]))
        if "levels" in a or "labels" in a:
            if "levels" in a:
                want = self._const(a["levels"], "levels")
                want = [want] if not isinstance(want, list) else want
                want = [w if isinstance(w, str) else r_number_label(w) for w in want]
                codes, _ = _recode(f, want)
                f = _Value("fac", codes, want, ordered)
            if "labels" in a:
                labs = self._const(a["labels"], "labels")
                labs = [labs] if not isinstance(labs, list) else labs
                labs = [str(x) if isinstance(x, str) else r_number_label(x) for x in labs]
                if len(labs) != len(f.levels):
                    raise FormulaError(f"'{key}': labels must have one entry per level")
                order = list(range(len(labs)))
                f = _sorted_factor(f.data, labs, order, ordered)
        elif fn in ("factor", "ordered"):
            f = _drop_unused(f)       # factor(x) drops unused levels of a factor x
        f = _Value("fac", f.data, f.levels, ordered)
        skey = "factor:" + key
        if self.fitting:
            self.state[skey] = list(f.levels)
        elif skey in self.state:
            # training levels, unless new data bring new ones (reported by the caller)
            codes, new = _recode(f, self.state[skey])
            if not new:
                f = _Value("fac", codes, self.state[skey], ordered)
        return f

    def _scale(self, node: _Call) -> _Value:
        key = _deparse(node)
        a = self._args(node, ["x", "center", "scale"])
        if "x" not in a:
            raise FormulaError(f"missing argument in '{key}'")
        x = self._numeric(a["x"], "scale()")
        if x.ndim != 1:
            raise FormulaError(f"scale() of a matrix is not supported: '{key}'")
        skey = "scale:" + key
        if self.fitting or skey not in self.state:
            center = self._const(a["center"], "center") if "center" in a else True
            scale = self._const(a["scale"], "scale") if "scale" in a else True
            ok = x[~np.isnan(x)]
            if center is True:
                c = float(ok.mean()) if ok.size else math.nan
            elif center is False:
                c = 0.0
            else:
                c = float(center)
            if scale is True:
                m = ok.size
                s = float(np.sqrt(((ok - c) ** 2).sum() / max(m - 1, 1))) if m else math.nan
            elif scale is False:
                s = 1.0
            else:
                s = float(scale)
            if self.fitting:
                self.state[skey] = (c, s)
        else:
            c, s = self.state[skey]
        with np.errstate(all="ignore"):
            return _num((x - c) / s)

    # ---- bases kept for new data: poly(), ns(), bs()

    def _kept(self, key: str, make):
        """What `make()` computes from the fitted data (knots, coefficients), reused for new data."""
        skey = "basis:" + key
        if self.fitting or skey not in self.state:
            out = make()
            if self.fitting:
                self.state[skey] = out
            return out
        return self.state[skey]

    def poly_args(self, node: _Call) -> tuple[str, np.ndarray, int, bool]:
        """(key, x, degree, raw) of a poly() call, its arguments checked."""
        key = _deparse(node)
        a = self._args(node, ["x", "degree", "coefs", "raw", "simple"])
        if "coefs" in a:
            raise FormulaError(f"poly(coefs=) is not supported: '{key}'")
        x = self._numeric(a["x"], "poly()")
        if x.ndim != 1:
            raise FormulaError(f"poly() of a matrix is not supported: '{key}'")
        degree = self._const(a["degree"], "degree") if "degree" in a else 1
        raw = self._const(a["raw"], "raw") if "raw" in a else False
        if not isinstance(degree, (int, float)) or degree != int(degree):
            raise FormulaError(f"'degree' must be a whole number in '{key}'")
        return key, x, int(degree), bool(raw)

    def _poly(self, node: _Call) -> _Value:
        key, x, degree, raw = self.poly_args(node)
        cols = [str(k) for k in range(1, degree + 1)]
        if raw:
            return _Value("num", poly_raw(x, degree, key), cols=cols)
        if self.fitting or "basis:" + key not in self.state:
            Z, coefs = poly_basis(x, degree, key)
            if self.fitting:
                self.state["basis:" + key] = coefs
            return _Value("num", Z, cols=cols)
        if np.isnan(x).any():
            xname = _deparse(self._args(node, ["x", "degree", "coefs", "raw", "simple"])["x"])
            raise PymerDataError(f"new data have missing values in '{xname}' ({key})")
        return _Value("num", poly_predict(x, self.state["basis:" + key]), cols=cols)

    def spline_args(self, node: _Call, fn: str) -> tuple[str, np.ndarray, dict]:
        """(key, x, the knot rule's arguments) of an ns()/bs() call (fn: "ns" or "bs"),
        checked: the keyword arguments of :func:`pymer.formula.splines.spline_knots`."""
        key = _deparse(node)
        names = (["x", "df", "knots", "degree", "intercept", "Boundary.knots"] if fn == "bs"
                 else ["x", "df", "knots", "intercept", "Boundary.knots"])
        a = self._args(node, names)
        x = self._numeric(a["x"], f"{fn}()")
        if x.ndim != 1:
            raise FormulaError(f"{fn}() of a matrix is not supported: '{key}'")
        c = {k: self._const(a[k], k) for k in names[1:] if k in a}
        degree = c.get("degree", 3)
        if not isinstance(degree, (int, float)) or degree < 1 or degree != int(degree):
            raise FormulaError(f"'degree' must be a positive whole number in '{key}'")
        return key, x, {"kind": fn, "df": c.get("df"), "knots": c.get("knots"), "degree": int(degree),
                        "intercept": bool(c.get("intercept", False)), "boundary": c.get("Boundary.knots"),
                        "what": key}

    def _spline(self, node: _Call, fn: str) -> _Value:
        key, x, rule = self.spline_args(node, fn)
        spec = self._kept(key, lambda: spline_knots(x, **rule))
        B = spline_basis(x, spec)
        return _Value("num", B, cols=[str(k) for k in range(1, B.shape[1] + 1)])

    # ---- factor codings: C(), relevel(), lme4's dummy()

    def _fac_arg(self, node: _Node, fn: str) -> _Value:
        v = self.eval(node)
        if v.kind != "fac":
            raise FormulaError(f"{fn}() needs a factor; '{_deparse(node)}' is numeric")
        return v

    def _contrasts(self, node: _Call) -> _Value:
        key = _deparse(node)
        a = self._args(node, ["object", "contr", "how.many"], required=["object", "contr"])
        if "how.many" in a:
            raise FormulaError(f"C(how.many=) is not supported: '{key}'")
        f = self._fac_arg(a["object"], "C")
        spec = _unparen(a["contr"])
        if isinstance(spec, _Name) and not spec.quoted:
            name = spec.name
        elif isinstance(spec, _Str):
            name = spec.value
        else:
            raise FormulaError(f"C() takes a contrast function such as contr.sum: '{key}'")
        if name not in CONTRAST_FUNCTIONS:
            raise FormulaError(f"unknown contrasts '{name}' in '{key}'; use one of "
                               f"{', '.join(CONTRAST_FUNCTIONS)}")
        return _Value("fac", f.data, f.levels, f.ordered, contrasts=name)

    def _relevel(self, node: _Call) -> _Value:
        key = _deparse(node)
        a = self._args(node, ["x", "ref"], required=["x", "ref"])
        f = self._fac_arg(a["x"], "relevel")
        if f.ordered:
            raise FormulaError(f"relevel() is only for unordered factors: '{key}'")
        ref = self._const(a["ref"], "ref")
        if isinstance(ref, str):
            if ref not in f.levels:
                raise FormulaError(f"'ref' must be an existing level: '{ref}' is not one of "
                                   f"{f.levels[:10]} in '{key}'")
            i = f.levels.index(ref)
        elif isinstance(ref, (int, float)) and not isinstance(ref, bool) and ref == int(ref) \
                and 1 <= ref <= len(f.levels):
            i = int(ref) - 1
        else:
            raise FormulaError(f"'ref' must be a level or its position in '{key}'")
        order = [i] + [j for j in range(len(f.levels)) if j != i]
        return _sorted_factor(f.data, list(f.levels), order)

    def _dummy(self, node: _Call) -> _Value:
        key = _deparse(node)
        a = self._args(node, ["f", "levelsToKeep"])
        f = _as_factor(self.eval(a["f"]), _deparse(a["f"]))
        # ?lme4::dummy: all levels but the first unless levelsToKeep says which
        keep = self._const(a["levelsToKeep"], "levelsToKeep") if "levelsToKeep" in a \
            else list(f.levels[1:])
        if not keep:
            raise FormulaError(f"'{key}' has no columns: '{_deparse(a['f'])}' has one level")
        keep = keep if isinstance(keep, list) else [keep]
        keep = [k if isinstance(k, str) else r_number_label(k) for k in keep]
        bad = [k for k in keep if k not in f.levels]
        if bad:
            raise FormulaError(f"level(s) {bad} of '{key}' are not levels of "
                               f"'{_deparse(a['f'])}' ({f.levels[:10]})")
        idx = np.array([f.levels.index(k) for k in keep])
        D = (f.data[:, None] == idx[None, :]).astype(np.float64)
        D[f.data < 0] = np.nan
        if len(keep) == 1:
            return _num(D[:, 0])
        return _Value("num", D, cols=keep)
