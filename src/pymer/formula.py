"""lme4's model formulas -> model matrices.

``parse_formula("Reaction ~ Days + (Days | Subject)", data)`` reads a formula as
R and lme4 read it and returns a :class:`ModelFrame`: the response, the
fixed-effects model matrix with R's column names, and one :class:`RandomTerm`
per random-effects term (after lme4's expansion of ``||`` and ``/``).

The formula is parsed with R's operator precedence into a small syntax tree.
The fixed part and each random term's left side go through R's term algebra
(``+ - * / : ^ %in%``, ``0``/``1``), R's term ordering and R's rule for coding
factors in interactions (a factor is coded by contrasts when the term without
it is spanned by the terms before it, otherwise by indicator columns), and the
columns are named as R's ``model.matrix`` names them.  Variables are evaluated
once on the whole data (as R's ``model.frame`` does), then rows with missing
values are dropped and unused factor levels dropped (as lme4 does).

This follows the documented behaviour of R (``?formula``, ``?terms.object``,
``?model.matrix``, Chambers & Hastie 1992, ch. 2) and of lme4
(``?lme4::findbars``, ``?lme4::expandDoubleVerts``), checked against R's output.
"""
from __future__ import annotations

import math
import numbers
import re
import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from .errors import FormulaError, MissingColumnError, PymerDataError

__all__ = [
    "parse_formula",
    "ModelFrame",
    "RandomTerm",
    "NewData",
    "NewRandomTerm",
    "drop_fixed_term",
    "contr_poly",
    "r_number_label",
]


def _formula_entry(fn):
    """Entry points that read a formula: a formula nested too deeply for the
    recursive reader is a FormulaError, not a RecursionError."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RecursionError:
            raise FormulaError("the formula is nested too deeply (or is too long) to be read; "
                               "simplify it, e.g. build long expressions as data columns first"
                               ) from None
    return wrapper


# =============================================================================
# Syntax tree
# =============================================================================


class _Node:
    __slots__ = ("pos", "end")


class _Name(_Node):
    __slots__ = ("name", "quoted")

    def __init__(self, name, pos=-1, end=-1, quoted=False):
        self.name, self.pos, self.end, self.quoted = name, pos, end, quoted


class _Num(_Node):
    __slots__ = ("value", "is_int")

    def __init__(self, value, is_int=False, pos=-1, end=-1):
        self.value, self.is_int, self.pos, self.end = value, is_int, pos, end


class _Str(_Node):
    __slots__ = ("value",)

    def __init__(self, value, pos=-1, end=-1):
        self.value, self.pos, self.end = value, pos, end


class _Call(_Node):
    __slots__ = ("fn", "args")  # args: list of (name or None, node)

    def __init__(self, fn, args, pos=-1, end=-1):
        self.fn, self.args, self.pos, self.end = fn, args, pos, end


class _BinOp(_Node):
    __slots__ = ("op", "lhs", "rhs")

    def __init__(self, op, lhs, rhs, pos=-1, end=-1):
        self.op, self.lhs, self.rhs, self.pos, self.end = op, lhs, rhs, pos, end


class _Unary(_Node):
    __slots__ = ("op", "x")

    def __init__(self, op, x, pos=-1, end=-1):
        self.op, self.x, self.pos, self.end = op, x, pos, end


class _Paren(_Node):
    __slots__ = ("x",)

    def __init__(self, x, pos=-1, end=-1):
        self.x, self.pos, self.end = x, pos, end


# ---- tokenizer ---------------------------------------------------------------

_OPERATORS = sorted(
    ["~", "||", "|", "&&", "&", "!", "==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/",
     "^", "**", ":", "::", ":::", "$", "@", "=", "<-", "<<-", "->", "->>", "?", "(", ")",
     ",", "[", "]", "[[", "{", "}", ";"],
    key=len, reverse=True)
_OPERATOR_SET = frozenset(_OPERATORS)
assert max(map(len, _OPERATORS)) == 3
_DIGITS = frozenset("0123456789")     # not str.isdigit(): that accepts '¹', '٣', ...
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+L?|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?L?")
_RESERVED = {"if", "else", "repeat", "while", "function", "for", "next", "break", "in",
             "TRUE", "FALSE", "NULL", "Inf", "NaN", "NA", "NA_integer_", "NA_real_",
             "NA_character_", "NA_complex_"}


class _Tok(NamedTuple):
    kind: str      # "name", "qname" (backquoted), "num", "str", "op", "eof"
    text: str
    pos: int
    value: object = None


def _tokenize(s: str) -> list[_Tok]:
    toks = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c.isspace():
            i += 1
            continue
        if c == "#":
            while i < n and s[i] != "\n":
                i += 1
            continue
        if c == "`":
            j = s.find("`", i + 1)
            if j < 0:
                raise FormulaError(f"unterminated backquote at position {i} of formula: {s[i:]!r}")
            toks.append(_Tok("qname", s[i + 1:j], i))
            i = j + 1
            continue
        if c in "\"'":
            j, buf = i + 1, []
            while j < n and s[j] != c:
                if s[j] == "\\" and j + 1 < n:
                    j += 1
                    buf.append({"n": "\n", "t": "\t"}.get(s[j], s[j]))
                else:
                    buf.append(s[j])
                j += 1
            if j >= n:
                raise FormulaError(f"unterminated string at position {i} of formula: {s[i:]!r}")
            toks.append(_Tok("str", s[i:j + 1], i, "".join(buf)))
            i = j + 1
            continue
        if c in _DIGITS or (c == "." and i + 1 < n and s[i + 1] in _DIGITS):
            m = _NUMBER.match(s, i)
            text = m.group(0)
            is_int = text.endswith("L")
            body = text[:-1] if is_int else text
            value = float(int(body, 16)) if body[:2].lower() == "0x" else float(body)
            toks.append(_Tok("num", text, i, (value, is_int)))
            i = m.end()
            continue
        if c.isalpha() or c in "._":
            j = i + 1
            while j < n and (s[j].isalnum() or s[j] in "._"):
                j += 1
            toks.append(_Tok("name", s[i:j], i))
            i = j
            continue
        if c == "%":
            j = s.find("%", i + 1)
            if j < 0:
                raise FormulaError(f"unterminated %-operator at position {i} of formula: {s[i:]!r}")
            toks.append(_Tok("op", s[i:j + 1], i))
            i = j + 1
            continue
        for width in (3, 2, 1):          # longest operator first
            op = s[i:i + width]
            if len(op) == width and op in _OPERATOR_SET:
                toks.append(_Tok("op", op, i))
                i += width
                break
        else:
            raise FormulaError(f"unexpected character {c!r} at position {i} of formula {s!r}")
    toks.append(_Tok("eof", "", n))
    return toks


# ---- parser (R's operator precedence, see ?Syntax) ---------------------------

_BINARY_BP = {
    "~": 5, "||": 6, "|": 6, "&&": 7, "&": 7,
    "==": 9, "!=": 9, "<": 9, ">": 9, "<=": 9, ">=": 9,
    "+": 10, "-": 10, "*": 11, "/": 11, ":": 13, "^": 15, "**": 15,
}
_SPECIAL_BP = 12      # %any%
_UNARY_MINUS_BP = 14
_NOT_BP = 8
_CALL_BP = 17
_UNSUPPORTED = {"$", "@", "[", "[[", "::", ":::", "=", "<-", "<<-", "->", "->>", "?", "{",
                "}", ";"}


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.open_parens: list[int] = []

    # error helpers
    def _context(self, pos: int) -> str:
        if self.open_parens:
            start = self.open_parens[-1]
            depth, j = 0, start
            while j < len(self.text):
                if self.text[j] == "(":
                    depth += 1
                elif self.text[j] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            return f" in term {self.text[start:j + 1]!r}"
        return ""

    def error(self, msg: str, pos: int):
        raise FormulaError(f"{msg} at position {pos}{self._context(pos)} of formula {self.text!r}")

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def next(self) -> _Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def parse(self) -> _Node:
        node = self.expr(0)
        t = self.peek()
        if t.kind != "eof":
            if t.text == ")":
                raise FormulaError(f"unmatched ')' at position {t.pos} of formula {self.text!r}")
            self.error(f"unexpected {t.text!r}", t.pos)
        return node

    def lbp(self, t: _Tok) -> int:
        if t.kind != "op":
            return 0
        if t.text in _BINARY_BP:
            return _BINARY_BP[t.text]
        if t.text.startswith("%"):
            return _SPECIAL_BP
        if t.text == "(":
            return _CALL_BP
        if t.text in _UNSUPPORTED:
            return 100     # handled (rejected) in led
        return 0

    def expr(self, rbp: int) -> _Node:
        left = self.nud(self.next())
        while True:
            t = self.peek()
            if self.lbp(t) <= rbp:
                return left
            self.next()
            left = self.led(t, left)

    def nud(self, t: _Tok) -> _Node:
        if t.kind == "name":
            return _Name(t.text, t.pos, t.pos + len(t.text))
        if t.kind == "qname":
            return _Name(t.text, t.pos, t.pos + len(t.text) + 2, quoted=True)
        if t.kind == "num":
            value, is_int = t.value
            return _Num(value, is_int, t.pos, t.pos + len(t.text))
        if t.kind == "str":
            return _Str(t.value, t.pos, t.pos + len(t.text))
        if t.kind == "eof":
            if self.open_parens:
                p = self.open_parens[-1]
                raise FormulaError(
                    f"unclosed parenthesis at position {p} of formula {self.text!r}: "
                    f"{self.text[p:]!r}")
            raise FormulaError(f"formula {self.text!r} ends unexpectedly (missing a term)")
        op = t.text
        if op == "(":
            self.open_parens.append(t.pos)
            if self.peek().text == ")":
                self.error("empty parentheses", t.pos)
            inner = self.expr(0)
            close = self.next()
            if close.text != ")":
                if close.kind == "eof":
                    raise FormulaError(
                        f"unclosed parenthesis at position {t.pos} of formula {self.text!r}: "
                        f"{self.text[t.pos:]!r}")
                self.error(f"expected ')' but found {close.text!r}", close.pos)
            self.open_parens.pop()
            return _Paren(inner, t.pos, close.pos + 1)
        if op in ("-", "+"):
            x = self.expr(_UNARY_MINUS_BP)
            return _Unary(op, x, t.pos, x.end)
        if op == "!":
            x = self.expr(_NOT_BP)
            return _Unary(op, x, t.pos, x.end)
        if op == "~":
            x = self.expr(_BINARY_BP["~"])
            return _Unary(op, x, t.pos, x.end)
        if op in ("|", "||"):
            self.error(f"empty left side of '{op}'", t.pos)
        if op == ")":
            self.error("missing term before ')'", t.pos)
        self.error(f"unexpected {op!r}", t.pos)

    def led(self, t: _Tok, left: _Node) -> _Node:
        op = t.text
        if op == "(":
            return self.call(left, t)
        if op in _UNSUPPORTED:
            self.error(f"operator {op!r} is not supported in formulas", t.pos)
        if op in ("|", "||"):
            nxt = self.peek()
            if nxt.text == ")" or nxt.kind == "eof":
                self.error(f"empty right side of '{op}'", t.pos)
        if op in ("^", "**"):
            right = self.expr(_BINARY_BP["^"] - 1)       # right-associative
            return _BinOp("^", left, right, left.pos, right.end)
        bp = _SPECIAL_BP if op.startswith("%") else _BINARY_BP[op]
        nxt = self.peek()
        if nxt.kind == "eof" or nxt.text == ")":
            self.error(f"missing term after {op!r}", t.pos)
        right = self.expr(bp)
        return _BinOp(op, left, right, left.pos, right.end)

    def call(self, fn: _Node, t: _Tok) -> _Node:
        if not isinstance(fn, _Name):
            self.error("only named functions can be called", t.pos)
        self.open_parens.append(fn.pos)
        args = []
        if self.peek().text != ")":
            while True:
                name = None
                a = self.toks[self.i]
                b = self.toks[self.i + 1] if a.kind != "eof" else a
                if a.kind in ("name", "qname", "str") and b.text == "=":
                    name = a.value if a.kind == "str" else a.text
                    self.i += 2
                if self.peek().text in (",", ")"):
                    self.error(f"missing argument in call to {fn.name}()", self.peek().pos)
                args.append((name, self.expr(0)))
                sep = self.next()
                if sep.text == ")":
                    break
                if sep.text != ",":
                    if sep.kind == "eof":
                        raise FormulaError(
                            f"unclosed parenthesis at position {t.pos} of formula {self.text!r}: "
                            f"{self.text[fn.pos:]!r}")
                    self.error(f"expected ',' or ')' but found {sep.text!r}", sep.pos)
        else:
            sep = self.next()
        self.open_parens.pop()
        return _Call(fn, args, fn.pos, sep.pos + 1)


def _parse(text: str) -> _Node:
    return _Parser(text).parse()


# ---- deparse: R's way of writing an expression back ---------------------------

_NOSPACE_OPS = {"^", ":", "/", "%%", "%/%"}
_SYNTACTIC = re.compile(r"^(?:[^\W\d_][\w.]*|\.(?:[^\W\d][\w.]*)?)$")


def _is_syntactic(name: str) -> bool:
    return bool(_SYNTACTIC.match(name)) and name not in _RESERVED and not name.startswith("..")


def _deparse(node: _Node, backtick: bool = True) -> str:
    """The expression as R's deparse() writes it (spacing, numbers, backquotes)."""
    if isinstance(node, _Name):
        if backtick and not _is_syntactic(node.name) and (node.quoted
                                                          or node.name not in _RESERVED):
            return "`" + node.name.replace("`", "\\`") + "`"
        return node.name
    if isinstance(node, _Num):
        if node.is_int:
            return f"{int(node.value)}L"
        return r_number_label(node.value)
    if isinstance(node, _Str):
        return '"' + node.value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(node, _Paren):
        return "(" + _deparse(node.x, backtick) + ")"
    if isinstance(node, _Unary):
        return node.op + _deparse(node.x, backtick)
    if isinstance(node, _BinOp):
        a, b = _deparse(node.lhs, backtick), _deparse(node.rhs, backtick)
        if node.op in _NOSPACE_OPS:
            return f"{a}{node.op}{b}"
        return f"{a} {node.op} {b}"
    if isinstance(node, _Call):
        parts = []
        for name, arg in node.args:
            val = _deparse(arg, backtick)
            if name is not None:
                nm = name if _is_syntactic(name) else "`" + name + "`"
                parts.append(f"{nm} = {val}")
            else:
                parts.append(val)
        return _deparse(node.fn, backtick) + "(" + ", ".join(parts) + ")"
    raise TypeError(node)  # pragma: no cover


def _unparen(node: _Node) -> _Node:
    while isinstance(node, _Paren):
        node = node.x
    return node


def _contains_bar(node: _Node) -> bool:
    if isinstance(node, _BinOp):
        return node.op in ("|", "||") or _contains_bar(node.lhs) or _contains_bar(node.rhs)
    if isinstance(node, (_Paren, _Unary)):
        return _contains_bar(node.x)
    if isinstance(node, _Call):
        return any(_contains_bar(a) for _, a in node.args)
    return False


# =============================================================================
# R's number labels (as.character / deparse of doubles: 15 significant digits)
# =============================================================================


def r_number_label(v: float) -> str:
    """A double as R's ``as.character()`` writes it (R 4.2): 15 significant digits,
    fixed notation unless scientific is narrower. ``0.1 + 0.2 -> "0.3"``,
    ``1e5 -> "1e+05"``, ``123456 -> "123456"``, ``10 -> "10"``."""
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Inf" if v > 0 else "-Inf"
    if v == 0.0:
        return "0"
    r = repr(abs(v)).split("e")[0]
    digits = len(r.replace(".", "").lstrip("0").rstrip("0")) or 1
    if digits > 15:
        ref = float(f"{v:.14e}")
        for digits in range(1, 16):
            if float(f"{v:.{digits - 1}e}") == ref:
                break
    mant, ex = f"{v:.{digits - 1}e}".split("e")
    e = int(ex)
    sci = f"{mant}e{'-' if e < 0 else '+'}{abs(e):02d}"
    fixed = f"{v:.{max(0, digits - 1 - e)}f}"
    return fixed if len(fixed) <= len(sci) else sci


# =============================================================================
# Polynomial contrasts (orthonormal polynomials on 1..n, as R's contr.poly)
# =============================================================================


def contr_poly(n: int) -> np.ndarray:
    """Orthonormal polynomial contrasts for an ordered factor with `n` levels.

    Column k (k = 1..n-1) holds the degree-k polynomial in the scores 1..n,
    orthogonal to all lower degrees, with unit length and a positive leading
    coefficient: the matrix R's ``contr.poly(n)`` gives.
    """
    if n < 2:
        raise ValueError("contr_poly needs at least 2 levels")
    x = np.arange(1, n + 1, dtype=np.float64)
    x -= x.mean()
    V = np.vander(x, n, increasing=True)
    Q, R = np.linalg.qr(V)
    Q = Q * np.sign(np.diag(R))
    Q = Q[:, 1:]
    return Q / np.sqrt((Q * Q).sum(axis=0))


def _poly_names(n: int) -> list[str]:
    base = [".L", ".Q", ".C"]
    return [base[k] if k < 3 else f"^{k + 1}" for k in range(n - 1)]


# =============================================================================
# Values: what a variable evaluates to
# =============================================================================


class _Value:
    """An evaluated variable: numeric ('num', float64 with NaN as NA), logical
    ('lgl', float64 0/1/NaN) or factor ('fac', intp codes with -1 as NA)."""

    __slots__ = ("kind", "data", "levels", "ordered")

    def __init__(self, kind, data, levels=None, ordered=False):
        self.kind, self.data, self.levels, self.ordered = kind, data, levels, ordered

    @property
    def na(self) -> np.ndarray:
        if self.kind == "fac":
            return self.data < 0
        return np.isnan(self.data)

    def take(self, rows: np.ndarray) -> "_Value":
        return _Value(self.kind, self.data[rows], self.levels, self.ordered)


def _num(data) -> _Value:
    return _Value("num", np.asarray(data, dtype=np.float64))


def _sorted_factor(codes: np.ndarray, labels: list[str], order: list[int],
                   ordered: bool = False) -> _Value:
    """Factor with levels `labels` reordered by `order`; duplicate labels are merged."""
    new_labels, rank, seen = [], np.empty(len(labels), dtype=np.intp), {}
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


def _category_labels(cats: pd.Index) -> list[str]:
    if pd.api.types.is_numeric_dtype(cats.dtype) and not pd.api.types.is_bool_dtype(cats.dtype):
        return [r_number_label(c) for c in cats]
    if pd.api.types.is_bool_dtype(cats.dtype):
        return ["TRUE" if c else "FALSE" for c in cats]
    # through a numpy object array: iterating an Arrow-backed index is slow
    return [str(c) for c in cats.to_numpy(dtype=object)]


def _column_value(s: pd.Series, name: str) -> _Value:
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
    if dt == object:
        kind = pd.api.types.infer_dtype(s, skipna=True)
        if kind == "boolean":
            return _Value("lgl", s.to_numpy(dtype=np.float64, na_value=np.nan))
        if kind in ("integer", "floating", "mixed-integer-float", "decimal", "empty"):
            return _num(pd.to_numeric(s).to_numpy(dtype=np.float64, na_value=np.nan))
    return _factor_from_strings(s)


def _drop_unused(v: _Value) -> _Value:
    """Drop factor levels that no (kept) row uses, keeping the order (lme4 does this)."""
    if v.kind != "fac":
        return v
    counts = np.bincount(v.data[v.data >= 0], minlength=len(v.levels))
    used = counts > 0
    if used.all():
        return v
    newcode = np.cumsum(used) - 1
    data = np.where(v.data >= 0, newcode[np.maximum(v.data, 0)], -1).astype(np.intp)
    return _Value("fac", data, [l for l, u in zip(v.levels, used) if u], v.ordered)


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
        v = _column_value(s, name)
        self.cache[key] = v
        return v

    def eval(self, node: _Node) -> _Value:
        key = _deparse(node)
        v = self.cache.get(key)
        if v is None:
            v = self._eval(node)
            if v.kind == "num" and v.data.ndim == 0:
                v = _num(np.full(self.n, float(v.data)))
            self.cache[key] = v
        return v

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
            warnings.warn(f"NaNs produced in '{_deparse(node)}' ({int(new_nan.sum())} rows); "
                          "those rows are treated as missing", RuntimeWarning, stacklevel=4)
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
        if isinstance(node, _Unary) and node.op == "-" and isinstance(_unparen(node.x), _Num):
            return -_unparen(node.x).value
        if isinstance(node, _Call) and isinstance(node.fn, _Name) and node.fn.name == "c":
            return [self._const(a, what) for _, a in node.args]
        raise FormulaError(f"{what} must be a constant, not '{_deparse(node)}'")

    def _call(self, node: _Call) -> _Value:
        fn = node.fn.name
        key = _deparse(node)
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
        if fn in ("poly", "ns", "bs", "splines::ns"):
            raise FormulaError(f"{fn}() is not supported yet in pymer formulas: '{key}'")
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


# =============================================================================
# R's term algebra
# =============================================================================


class _Terms:
    """The terms of one formula side: variables in order of appearance, terms as
    sets of variable indices (R's order: by degree, then order of appearance)."""

    def __init__(self):
        self.vars: list[_Node] = []
        self.keys: dict[str, int] = {}
        self.offsets: list[_Node] = []
        self.terms: list[frozenset] = []
        self.intercept = True

    def var(self, node: _Node) -> int:
        key = _deparse(node)
        if key not in self.keys:
            self.keys[key] = len(self.vars)
            self.vars.append(node)
        return self.keys[key]

    def label(self, term) -> str:
        return ":".join(_deparse(self.vars[i]) for i in sorted(term))

    @classmethod
    def of(cls, node: _Node | None, where: str) -> "_Terms":
        t = cls()
        if node is not None:
            terms, removed, intercept = t._expand(node, where)
            t.terms = sorted([x for x in terms if x and x not in removed], key=len)
            if intercept is not None:
                t.intercept = intercept
        return t

    # each expansion returns (terms, removals, intercept or None)
    def _expand(self, node, where):
        if isinstance(node, _Paren):
            return self._expand(node.x, where)
        if isinstance(node, _Num):
            if node.value == 1:
                return [], [], True
            if node.value == 0:
                return [], [], False
            raise FormulaError(f"invalid term '{_deparse(node)}' in {where}")
        if isinstance(node, _Unary) and node.op == "-":
            terms, _, icpt = self._expand(node.x, where)
            flip = None if icpt is None else (not icpt)
            return [], terms, flip
        if isinstance(node, _Unary) and node.op == "+":
            return self._expand(node.x, where)
        if isinstance(node, _BinOp):
            op = node.op
            if op in ("|", "||"):
                raise FormulaError(
                    f"random-effects term '{_deparse(node)}' must be enclosed in parentheses "
                    f"and added at the top level of the formula")
            if op == "~":
                raise FormulaError(f"unexpected '~' in {where}: '{_deparse(node)}'")
            if op == "+":
                lt, lr, li = self._expand(node.lhs, where)
                rt, rr, ri = self._expand(node.rhs, where)
                return self._union(lt, rt, rr), lr + rr, (ri if ri is not None else li)
            if op == "-":
                lt, lr, li = self._expand(node.lhs, where)
                rt, rr, ri = self._expand(node.rhs, where)
                icpt = li if ri is None else (not ri)
                return [x for x in lt if x not in rt], lr, icpt
            if op in (":", "%in%"):
                lt = self._expand(node.lhs, where)[0]
                rt = self._expand(node.rhs, where)[0]
                return self._product(lt, rt), [], None
            if op == "*":
                lt = self._expand(node.lhs, where)[0]
                rt = self._expand(node.rhs, where)[0]
                return self._union(self._union(lt, rt), self._product(lt, rt)), [], None
            if op == "/":
                lt = self._expand(node.lhs, where)[0]
                rt = self._expand(node.rhs, where)[0]
                allvars = frozenset().union(*lt) if lt else frozenset()
                return self._union(lt, self._product([allvars], rt)), [], None
            if op == "^":
                power = _unparen(node.rhs)
                if not (isinstance(power, _Num) and power.value >= 1
                        and float(power.value).is_integer()):
                    raise FormulaError(
                        f"'{_deparse(node)}' in {where}: the power of a term must be a positive "
                        "integer (use I() for arithmetic, e.g. I(x^2))")
                base = self._expand(node.lhs, where)[0]
                out = list(base)
                # products of more than len(variables) terms add nothing new
                nvars = len(frozenset().union(*base)) if base else 0
                for _ in range(min(int(power.value), nvars + 1) - 1):
                    out = self._union(out, self._product(out, base))
                return [t for t in out if len(t) <= int(power.value)], [], None
        if isinstance(node, _Call) and node.fn.name == "offset":
            if len(node.args) != 1:
                raise FormulaError(f"offset() takes one argument: '{_deparse(node)}'")
            self.offsets.append(node.args[0][1])
            return [], [], None
        if isinstance(node, _Name) and node.name == ".":
            raise FormulaError("'.' (all other columns) is not supported in pymer formulas; "
                               "name the variables")
        return [frozenset([self.var(node)])], [], None

    @staticmethod
    def _union(a, b, removed=()):
        out = [x for x in a if x not in removed]
        for x in b:
            if x not in out:
                out.append(x)
        return out

    @staticmethod
    def _product(a, b):
        out = []
        for x in a:
            for y in b:
                t = x | y
                if t and t not in out:
                    out.append(t)
        return out


def _codings(terms: list[frozenset], is_factor: list[bool], intercept: bool) -> list[list[str]]:
    """R's rule for coding each factor in each term: by contrasts ('contr') when the
    term without that factor lies in the span of the previous terms (the empty term
    being the intercept), else by indicator columns ('full'). Without an intercept,
    the first factor main effect is coded by indicators and then plays the intercept."""
    prev: list[frozenset] = []
    have_intercept = intercept
    out = []
    for term in terms:
        codes = []
        for v in sorted(term):
            if not is_factor[v]:
                codes.append("num")
                continue
            rest = term - {v}
            if not rest:
                codes.append("contr" if have_intercept else "full")
            else:
                codes.append("contr" if any(rest <= p for p in prev) else "full")
        if len(term) == 1 and codes[0] == "full":
            have_intercept = True
        out.append(codes)
        prev.append(term)
    return out


# =============================================================================
# Design: model matrix of one formula side, reusable for new data
# =============================================================================


@dataclass
class _VarSpec:
    key: str                 # R's name of the variable (deparsed expression)
    node: _Node
    kind: str                # "num" or "fac" (logicals are 2-level factors FALSE/TRUE)
    levels: list | None = None
    ordered: bool = False


@dataclass
class _Design:
    vars: list[_VarSpec]
    terms: list[tuple[int, ...]]          # variable indices (sorted) per term
    codings: list[list[str]]
    intercept: bool
    term_labels: list[str]
    colnames: list[str] = field(default_factory=list)
    assign: np.ndarray | None = None

    def contrast(self, vi: int, coding: str) -> tuple[np.ndarray, list[str]]:
        v = self.vars[vi]
        L = len(v.levels)
        if coding == "full":
            return np.eye(L), list(v.levels)
        if L < 2:
            raise PymerDataError(
                f"contrasts can be applied only to factors with 2 or more levels: '{v.key}' has "
                f"only level(s) {v.levels} in the rows used")
        if v.ordered:
            return contr_poly(L), _poly_names(L)
        return np.eye(L)[:, 1:], list(v.levels[1:])

    def build(self, values: list[_Value], n: int) -> tuple[np.ndarray, list[str], np.ndarray]:
        """Model matrix (n, p) from the variables' values (factor codes already in this
        design's levels, no missing values), its column names and R's 'assign'."""
        blocks, names, assign = [], [], []
        if self.intercept:
            blocks.append(np.ones((n, 1)))
            names.append("(Intercept)")
            assign.append(0)
        for ti, (term, coding) in enumerate(zip(self.terms, self.codings), start=1):
            block = np.ones((n, 1))
            bnames = [""]
            for vi, code in zip(term, coding):
                v = self.vars[vi]
                if code == "num":
                    B = values[vi].data[:, None]
                    parts = [v.key]
                else:
                    C, cn = self.contrast(vi, code)
                    B = C[values[vi].data]
                    parts = [v.key + c for c in cn]
                k1 = block.shape[1]
                block = (B[:, :, None] * block[:, None, :]).reshape(n, B.shape[1] * k1)
                bnames = [f"{b}:{p}" if b else p for p in parts for b in bnames]
            blocks.append(block)
            names.extend(bnames)
            assign.extend([ti] * block.shape[1])
        X = np.hstack(blocks) if blocks else np.empty((n, 0))
        return np.ascontiguousarray(X, dtype=np.float64), names, np.asarray(assign, dtype=np.intp)


def _design_from_terms(t: _Terms, values: list[_Value]) -> _Design:
    specs = []
    for node, v in zip(t.vars, values):
        key = _deparse(node)
        if v.kind == "num":
            specs.append(_VarSpec(key, node, "num"))
        else:
            specs.append(_VarSpec(key, node, "fac", list(v.levels), bool(v.ordered)))
    terms = [tuple(sorted(x)) for x in t.terms]
    codings = _codings(t.terms, [s.kind == "fac" for s in specs], t.intercept)
    return _Design(specs, terms, codings, t.intercept, [t.label(x) for x in t.terms])


def _as_model_var(v: _Value, what: str) -> _Value:
    """A variable as model.matrix uses it: a logical is a factor with levels FALSE, TRUE
    (both, even when one does not occur: R gives an all-zero column then)."""
    if v.kind == "lgl":
        codes = np.where(np.isnan(v.data), -1, v.data != 0).astype(np.intp)
        return _Value("fac", codes, ["FALSE", "TRUE"])
    return v


# =============================================================================
# Random-effects terms: finding bars and lme4's expansions
# =============================================================================


@dataclass
class _Bar:
    lhs: _Node
    group: _Node
    text: str


def _split_bars(node: _Node | None, text: str):
    """(fixed part without bar terms, [bar terms]) of the right side of a formula."""
    if node is None:
        return None, []
    if isinstance(node, _BinOp) and node.op == "+":
        a, ba = _split_bars(node.lhs, text)
        b, bb = _split_bars(node.rhs, text)
        if a is None:
            return b, ba + bb
        if b is None:
            return a, ba + bb
        return _BinOp("+", a, b, node.pos, node.end), ba + bb
    if isinstance(node, _BinOp) and node.op == "-":
        a, ba = _split_bars(node.lhs, text)
        if _contains_bar(node.rhs):
            raise FormulaError(f"random-effects terms cannot be subtracted: "
                               f"'{_deparse(node.rhs)}' in formula {text!r}")
        if a is None:
            return _Unary("-", node.rhs, node.pos, node.end), ba
        return _BinOp("-", a, node.rhs, node.pos, node.end), ba
    if isinstance(node, _Paren):
        inner = _unparen(node)
        if isinstance(inner, _BinOp) and inner.op in ("|", "||"):
            return None, [_expand_double(inner, text[node.pos:node.end])]
    if isinstance(node, _BinOp) and node.op in ("|", "||"):
        raise FormulaError(
            f"random-effects term '{_deparse(node)}' must be enclosed in parentheses, e.g. "
            f"'({_deparse(node)})', in formula {text!r}")
    if _contains_bar(node):
        raise FormulaError(
            f"random-effects terms must be added at the top level of the formula; "
            f"'{_deparse(node)}' in formula {text!r}")
    return node, []


def _expand_double(bar: _BinOp, text: str) -> list[_Bar]:
    """(lhs || g) -> (1 | g) + (0 + term | g) per term of lhs, as lme4 1.1 expands it."""
    if _contains_bar(bar.lhs) or _contains_bar(bar.rhs):
        raise FormulaError(f"nested '|' in random-effects term {text!r}")
    if bar.op == "|":
        return [_Bar(bar.lhs, bar.rhs, text)]
    t = _Terms.of(bar.lhs, f"random-effects term {text!r}")
    if t.offsets:
        raise FormulaError(f"offset() is not allowed in random-effects term {text!r}")
    out = []
    if t.intercept:
        out.append(_Bar(_Num(1.0), bar.rhs, text))
    for term in t.terms:
        vs = [t.vars[i] for i in sorted(term)]
        node = vs[0]
        for v in vs[1:]:
            node = _BinOp(":", node, v)
        out.append(_Bar(_BinOp("+", _Num(0.0), node), bar.rhs, text))
    if not out:
        raise FormulaError(f"random-effects term {text!r} has no terms on the left of '||'")
    return out


def _nest_combine(node: _Node) -> _Node:
    """a/b -> b:a (the innermost grouping of a nesting), as lme4 names it."""
    node_u = _unparen(node)
    if isinstance(node_u, _BinOp) and node_u.op == "/":
        inner = _nest_combine(node_u.lhs)
        if isinstance(inner, _BinOp):
            inner = _Paren(inner)
        return _BinOp(":", node_u.rhs, inner)
    return node


def _expand_nesting(node: _Node) -> list[_Node]:
    """(1 | a/b) -> groups [b:a, a]; a/b/c -> [c:(b:a), b:a, a] (lme4's order and names)."""
    u = _unparen(node)
    if isinstance(u, _BinOp) and u.op == "/":
        if _contains_op(u.rhs, "/"):
            raise FormulaError(f"unsupported nesting '{_deparse(node)}' in a grouping factor")
        return [_nest_combine(u)] + _expand_nesting(u.lhs)
    return [node]


def _contains_op(node: _Node, op: str) -> bool:
    if isinstance(node, _BinOp):
        return node.op == op or _contains_op(node.lhs, op) or _contains_op(node.rhs, op)
    if isinstance(node, (_Paren, _Unary)):
        return _contains_op(node.x, op)
    return False


def _group_atoms(node: _Node, text: str) -> list[_Name]:
    """The variables of a grouping factor a or a:b:..., left to right."""
    u = _unparen(node)
    if isinstance(u, _Name):
        return [u]
    if isinstance(u, _BinOp) and u.op == ":":
        return _group_atoms(u.lhs, text) + _group_atoms(u.rhs, text)
    raise FormulaError(
        f"grouping factor '{_deparse(node)}' in random-effects term {text!r} must be a "
        "variable name, an interaction a:b or a nesting a/b (create the column first)")


def _group_factor(values: list[_Value]) -> _Value:
    """Interaction of factors with levels in lme4's order (first factor slowest) and
    labels 'a:b', keeping only the combinations that occur."""
    v = values[0]
    codes, labels = v.data, list(v.levels)
    for w in values[1:]:
        na = (codes < 0) | (w.data < 0)
        nw = len(w.levels)
        combined = codes.astype(np.int64) * nw + w.data
        uniq, inv = np.unique(combined[~na], return_inverse=True)
        new = np.full(codes.shape, -1, dtype=np.intp)
        new[~na] = inv
        wl = w.levels
        labels = [labels[u // nw] + ":" + wl[u % nw] for u in uniq.tolist()]
        codes = new
    return _Value("fac", codes, labels)


# =============================================================================
# Public results
# =============================================================================


@dataclass
class RandomTerm:
    """One random-effects term ``(lhs | group)`` after lme4's expansions.

    Attributes
    ----------
    lhs : str
        The left side as written after expansion ("Days", "1 + Days", "0 + Days", "1").
    group : str
        lme4's name of the grouping factor ("Subject", "cask:batch").
    X : ndarray (n, k)
        The left side's model matrix (kept rows only).
    colnames : list of str
        Its column names as lme4 gives them (["(Intercept)", "Days"]).
    codes : ndarray (n,) of intp
        Grouping factor level of each row, 0..len(levels)-1.
    levels : list of str
        Level labels in lme4's order (unused levels dropped).
    """

    lhs: str
    group: str
    X: np.ndarray
    colnames: list[str]
    codes: np.ndarray
    levels: list[str]


class NewRandomTerm(NamedTuple):
    """A random term's left-side matrix and grouping codes for new rows (-1: new level)."""

    X: np.ndarray
    codes: np.ndarray


@dataclass
class NewData:
    """Model matrices for new rows, encoded as the fitted data were.

    ``random`` is aligned with :attr:`ModelFrame.random` (empty when random terms
    were not requested); each entry unpacks as ``(X_lhs, codes)``.
    """

    X: np.ndarray
    offset: np.ndarray | None
    random: list[NewRandomTerm]
    new_levels: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class _RandomSpec:
    lhs_node: _Node
    group_node: _Node
    text: str
    design: _Design
    atoms: list[str]
    atom_levels: list[list[str]]
    levels: list[str]


@dataclass
class _Spec:
    fixed: _Design
    random: list[_RandomSpec]
    offsets: list[_Node]
    offset_column: str | None
    state: dict


@dataclass
class ModelFrame:
    """A formula read against data: the response, fixed-effects model matrix and
    random-effects terms, for the complete rows of the data.

    Attributes
    ----------
    formula : str
        The formula as given.
    response_name : str
        The response as R writes it ("Reaction", "log(Reaction)", "cbind(incidence, size - incidence)").
    y : ndarray
        (n,) float64, or (n, 2) (successes, failures) for ``cbind(...)``. A factor
        response gives 1.0 where the level is not the first level.
    response_levels : list of str or None
        The levels of a factor (or string) response.
    X : ndarray (n, p)
        Fixed-effects model matrix, R's column order.
    fixef_names : list of str
        Its column names as R names them ("(Intercept)", "Days", "stock2L", "recipeB:temperature.L").
    term_labels : list of str
        R's term labels of the fixed part.
    assign : ndarray (p,)
        Term of each column (0: intercept, i: term_labels[i-1]), as R's attr(X, "assign").
    random : list of RandomTerm
        In formula order, after lme4's expansion of ``||`` and ``/``.
    offset, weights : ndarray (n,) or None
    rows : ndarray
        Positions (0-based) of the rows of the data that were used.
    nobs_dropped : int
        Rows dropped for missing values.
    """

    formula: str
    response_name: str
    y: np.ndarray
    response_levels: list[str] | None
    X: np.ndarray
    fixef_names: list[str]
    term_labels: list[str]
    assign: np.ndarray
    random: list[RandomTerm]
    offset: np.ndarray | None
    weights: np.ndarray | None
    rows: np.ndarray
    nobs_dropped: int
    _spec: _Spec | None = field(default=None, repr=False, compare=False)

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @_formula_entry
    def new_data(self, newdata, *, include_random: bool = True,
                 allow_new_levels: bool = False, offset=None) -> NewData:
        """Model matrices for new rows with the fitted encoding.

        Same columns, factor levels, ``scale()`` centres and scales as the fitted
        data. For each random term, grouping codes are -1 for levels not seen in
        the fitted data; that is an error unless ``allow_new_levels=True``.
        Rows with missing values in the variables needed raise an error.

        Parameters
        ----------
        newdata : DataFrame or dict of arrays
        include_random : bool
            Also build the random terms (needs their grouping columns).
        allow_new_levels : bool
            Allow grouping levels not seen when fitting (codes -1).
        offset : array-like, optional
            An offset to add for the new rows (when the model's ``offset=`` was
            given as an array rather than a column name).
        """
        spec = self._spec
        data = _as_frame(newdata)
        n = len(data)
        ev = _Evaluator(data, spec.state, fitting=False)
        needed: list[tuple[str, _Value]] = []

        def get(node):
            v = ev.eval(node)
            needed.append((_deparse(node), v))
            return v

        fvals = [get(vs.node) for vs in spec.fixed.vars]
        ovals = [get(o) for o in spec.offsets]
        off_col = None
        if spec.offset_column is not None:
            off_col = ev.column(spec.offset_column)
            needed.append((spec.offset_column, off_col))
        rvals = []
        if include_random:
            for rs in spec.random:
                lv = [get(vs.node) for vs in rs.design.vars]
                gv = [ev.column(a) for a in rs.atoms]
                needed.extend(zip(rs.atoms, gv))
                rvals.append((lv, gv))
        bad = [(k, int(v.na.sum())) for k, v in needed if v.na.any()]
        if bad:
            seen, desc = set(), []
            for k, c in bad:
                if k not in seen:
                    seen.add(k)
                    desc.append(f"'{k}' ({c} rows)")
            raise PymerDataError("new data have missing values in " + ", ".join(desc)
                                 + "; drop or fill those rows first")
        X = spec.fixed.build(_encode_new(spec.fixed, fvals), n)[0]
        off = None
        parts = [o.data for o in ovals]
        if off_col is not None:
            parts.append(off_col.data)
        if offset is not None:
            parts.append(_vector(offset, n, "offset"))
        if parts:
            off = np.sum(parts, axis=0).astype(np.float64)
            _check_finite(off, "offset")
        random, new_levels = [], {}
        for rs, (lv, gv) in zip(spec.random, rvals):
            Xl = rs.design.build(_encode_new(rs.design, lv), n)[0]
            enc = []
            for val, levels, atom in zip(gv, rs.atom_levels, rs.atoms):
                codes, _ = _recode(_as_factor(val, atom), levels)
                enc.append(_Value("fac", codes, levels))
            codes, newl = _recode(_group_factor(enc), rs.levels)
            unseen = np.zeros(n, dtype=bool)
            for e in enc:
                unseen |= e.data < 0
            if unseen.any():
                newl = newl + [x for x in _new_labels(gv, rs.atoms, unseen) if x not in newl]
            group = _deparse(rs.group_node, backtick=False)
            if newl:
                new_levels[group] = newl
                if not allow_new_levels:
                    shown = ", ".join(f"'{x}'" for x in newl[:5])
                    more = f", ... ({len(newl)} in all)" if len(newl) > 5 else ""
                    raise PymerDataError(
                        f"new level(s) {shown}{more} of grouping factor '{group}' in random-effects "
                        f"term '({_deparse(rs.lhs_node)} | {group})' were not in the fitted data; "
                        "use allow_new_levels=True to predict them from the fixed effects alone")
            random.append(NewRandomTerm(Xl, codes))
        return NewData(X, off, random, new_levels)


def _new_labels(values: list[_Value], atoms: list[str], rows: np.ndarray) -> list[str]:
    """Labels of the grouping combinations in `rows` (for messages)."""
    facs = [_as_factor(v, a) for v, a in zip(values, atoms)]
    sub = [f.take(np.flatnonzero(rows)) for f in facs]
    return list(_group_factor([_drop_unused(s) for s in sub]).levels)


def _encode_new(design: _Design, values: list[_Value]) -> list[_Value]:
    """New data's variables in the design's encoding (training levels); new levels are errors."""
    out = []
    for vs, v in zip(design.vars, values):
        if vs.kind == "num":
            if v.kind == "fac":
                raise PymerDataError(f"variable '{vs.key}' was numeric in the fitted data but is "
                                     "a factor (strings) in the new data")
            if v.kind == "lgl":
                v = _num(v.data)
            _check_finite(v.data, vs.key)
            out.append(v)
            continue
        f = _as_factor(v, vs.key)
        codes, new = _recode(f, vs.levels)
        if new:
            shown = ", ".join(f"'{x}'" for x in new[:5])
            raise PymerDataError(f"factor '{vs.key}' has new level(s) {shown} not in the fitted data "
                                 f"(levels: {vs.levels[:10]})")
        out.append(_Value("fac", codes, vs.levels, vs.ordered))
    return out


# =============================================================================
# parse_formula
# =============================================================================


def _to_pandas(data):
    """A polars / pyarrow / other dataframe (or a dict holding their series) as pandas, via narwhals.

    Column by column, so no pyarrow is needed: an Enum keeps its level order (as a
    pandas Categorical does); other categoricals and strings get R's sorted levels.
    Anything narwhals does not know is returned unchanged.
    """
    if isinstance(data, (pd.DataFrame, pd.Series)):
        return data
    try:
        import narwhals as nw
    except ImportError:
        return data

    def column(s):
        values = s.to_numpy()
        if s.dtype == nw.Enum:
            return pd.Categorical(values, categories=list(s.dtype.categories))
        if s.dtype == nw.Categorical:
            return pd.Categorical(values)
        return values

    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            s = nw.from_native(v, series_only=True, pass_through=True)
            out[k] = column(s) if isinstance(s, nw.Series) else v
        return out
    df = nw.from_native(data, pass_through=True)
    if isinstance(df, nw.LazyFrame):
        df = df.collect()
    if not isinstance(df, nw.DataFrame):
        return data
    return pd.DataFrame({c: column(df[c]) for c in df.columns})


def _as_frame(data) -> pd.DataFrame:
    if data is None or isinstance(data, (str, bytes, numbers.Number)):
        raise PymerDataError(f"data must be a pandas DataFrame or a dict of arrays, "
                             f"not {type(data).__name__}")
    data = _to_pandas(data)
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame()
    if isinstance(data, dict):
        try:
            return pd.DataFrame(dict(data))
        except ValueError as e:
            raise PymerDataError(f"cannot make a data frame from the dict given: {e}") from None
    try:
        return pd.DataFrame(data)
    except Exception as e:  # noqa: BLE001
        raise PymerDataError(f"data must be a pandas DataFrame or a dict of arrays, "
                             f"not {type(data).__name__}") from e


def _vector(arg, n: int, what: str) -> np.ndarray:
    try:
        if isinstance(arg, pd.Series):
            arr = arg.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            arr = np.asarray(arg, dtype=np.float64)
    except (TypeError, ValueError):
        raise PymerDataError(f"{what} must be numeric (a column name or one number per row), "
                             f"not {type(arg).__name__} holding non-numbers") from None
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.ndim != 1:
        raise PymerDataError(f"{what} must be one-dimensional (one value per row), "
                             f"not of shape {arr.shape}")
    if arr.shape[0] != n:
        raise PymerDataError(f"{what} has length {arr.shape[0]}; the data have {n} rows")
    return arr


def _check_finite(a: np.ndarray, name: str):
    if np.isinf(a).any():
        k = int(np.isinf(a).sum())
        raise PymerDataError(f"'{name}' has infinite values ({k} rows); remove or fix them")


def _split_formula(formula: str) -> tuple[_Node, _Node | None]:
    if not isinstance(formula, str):
        raise FormulaError(f"the formula must be a string, not {type(formula).__name__}")
    if not formula.strip():
        raise FormulaError("empty formula")
    tree = _parse(formula)
    if isinstance(tree, _Unary) and tree.op == "~":
        raise FormulaError(f"formula {formula!r} has no response: write it as 'y ~ ...'")
    if not (isinstance(tree, _BinOp) and tree.op == "~"):
        raise FormulaError(f"formula {formula!r} has no '~' (write it as 'response ~ terms')")
    if _contains_op(tree.lhs, "~") or _contains_op(tree.rhs, "~"):
        raise FormulaError(f"formula {formula!r} has more than one '~'")
    return tree.lhs, tree.rhs


@_formula_entry
def parse_formula(formula: str, data, *, weights=None, offset=None,
                  require_random: bool = True) -> ModelFrame:
    """Read an lme4 formula against data.

    Parameters
    ----------
    formula : str
        ``"y ~ fixed terms + (lhs | group) + ..."`` in lme4's syntax.
    data : pandas.DataFrame or dict of arrays
        Never modified.
    weights, offset : None, a column name, or an array-like with one value per row
        Prior weights; an offset added to the formula's ``offset()`` terms.
    require_random : bool
        Raise a :class:`FormulaError` when the formula has no random-effects term.

    Returns
    -------
    ModelFrame
    """
    data = _as_frame(data)
    n = len(data)
    lhs, rhs = _split_formula(formula)
    fixed_node, bars = _split_bars(rhs, formula)
    bars = [b for group in bars for b in group]
    if require_random and not bars:
        raise FormulaError("no random effects terms specified in formula")

    fixed_terms = _Terms.of(fixed_node, f"formula {formula!r}")

    # ---- random terms: lme4's expansion of nesting
    rparts = []   # (lhs_node, group_node, text, _Terms, atoms)
    for bar in bars:
        where = f"random-effects term {bar.text!r}"
        for gnode in _expand_nesting(bar.group):
            t = _Terms.of(bar.lhs, where)
            if t.offsets:
                raise FormulaError(f"offset() is not allowed in {where}")
            if not t.terms and not t.intercept:
                raise FormulaError(f"{where} has no columns (its left side is empty)")
            rparts.append((bar.lhs, gnode, bar.text, t, _group_atoms(gnode, bar.text)))

    # ---- evaluate every variable once, on all rows (as R's model.frame)
    state: dict = {}
    ev = _Evaluator(data, state, fitting=True)
    used: list[tuple[str, _Value]] = []

    def get(node):
        v = ev.eval(node)
        used.append((_deparse(node), v))
        return v

    lhs_u = _unparen(lhs)
    response_name = _deparse(lhs)
    if isinstance(lhs_u, _Call) and lhs_u.fn.name == "cbind":
        if len(lhs_u.args) != 2 or any(nm is not None for nm, _ in lhs_u.args):
            raise FormulaError(f"cbind() in the response takes two columns (successes, failures): "
                               f"'{response_name}'")
        yvals = [get(a) for _, a in lhs_u.args]
        for (_, a), v in zip(lhs_u.args, yvals):
            if v.kind == "fac":
                raise PymerDataError(f"'{_deparse(a)}' in the response '{response_name}' is not "
                                     "numeric")
    else:
        if isinstance(lhs_u, _BinOp) and lhs_u.op in ("|", "||"):
            raise FormulaError(f"the response '{response_name}' cannot be a random-effects term")
        yvals = [get(lhs)]

    fvals = [get(v) for v in fixed_terms.vars]
    ovals = [get(o) for o in fixed_terms.offsets]
    rvals = []
    for _lhs, _g, _text, t, atoms in rparts:
        lv = [get(v) for v in t.vars]
        gv = [get(a) for a in atoms]
        rvals.append((lv, gv))
    extra = {}
    offset_column = None
    for what, arg in (("weights", weights), ("offset", offset)):
        if arg is None:
            continue
        if isinstance(arg, str):
            if not any(str(c) == arg for c in data.columns):
                raise MissingColumnError(arg, data.columns, what=f"{what} column")
            v = ev.column(arg)
            if v.kind == "fac":
                raise PymerDataError(f"{what} column '{arg}' is not numeric")
            if what == "offset":
                offset_column = arg
            extra[what] = v.data
            used.append((arg, v))
        else:
            arr = _vector(arg, n, what)
            extra[what] = arr
            used.append((what, _num(arr)))

    # ---- rows with no missing value in any variable used (na.omit)
    na = np.zeros(n, dtype=bool)
    for _, v in used:
        na |= v.na
    rows = np.flatnonzero(~na)
    if rows.size == 0:
        cols, seen = [], set()
        for k, v in used:
            if k not in seen and v.na.any():
                seen.add(k)
                cols.append(f"'{k}' ({int(v.na.sum())} missing)")
        if n == 0:
            raise PymerDataError("the data have no rows")
        raise PymerDataError("no complete rows: every row has a missing value in "
                             + ", ".join(cols))
    all_rows = rows.size == n

    def sub(v: _Value) -> _Value:
        return _drop_unused(v if all_rows else v.take(rows))

    m = rows.size

    # ---- response
    response_levels = None
    if len(yvals) == 2:
        y = np.column_stack([sub(v).data for v in yvals]).astype(np.float64)
        _check_finite(y, response_name)
    else:
        yv = sub(yvals[0])
        if yv.kind == "fac":
            response_levels = list(yv.levels)
            y = (yv.data != 0).astype(np.float64)
        else:
            y = yv.data.astype(np.float64)
            _check_finite(y, response_name)

    # ---- fixed part
    fsub = [_as_model_var(sub(v), k) for v, k in zip(fvals, fixed_terms.keys)]
    for v, node in zip(fsub, fixed_terms.vars):
        if v.kind == "num":
            _check_finite(v.data, _deparse(node))
    fixed = _design_from_terms(fixed_terms, fsub)
    X, names, assign = fixed.build(fsub, m)
    fixed.colnames, fixed.assign = names, assign

    # ---- offset and weights
    off_parts = [sub(v).data for v in ovals]
    if "offset" in extra:
        off_parts.append(extra["offset"][rows])
    off = None
    if off_parts:
        off = np.sum(off_parts, axis=0).astype(np.float64)
        _check_finite(off, "offset")
    w = None
    if "weights" in extra:
        w = np.asarray(extra["weights"][rows], dtype=np.float64)
        _check_finite(w, weights if isinstance(weights, str) else "weights")
        if (w < 0).any():
            i = int(np.flatnonzero(w < 0)[0])
            src = f"column '{weights}'" if isinstance(weights, str) else "weights="
            raise PymerDataError(
                f"negative weights are not allowed: {src} has {int((w < 0).sum())} "
                f"(first at row {data.index[rows[i]]}: {w[i]:g})")

    # ---- random terms
    random, rspecs = [], []
    for (lhs_node, gnode, text, t, atoms), (lv, gv) in zip(rparts, rvals):
        lsub = [_as_model_var(sub(v), k) for v, k in zip(lv, t.keys)]
        for v, node in zip(lsub, t.vars):
            if v.kind == "num":
                _check_finite(v.data, _deparse(node))
        design = _design_from_terms(t, lsub)
        Xl, cn, _ = design.build(lsub, m)
        design.colnames = cn
        gsub = [sub(_as_factor(v, _deparse(a))) for v, a in zip(gv, atoms)]
        g = _group_factor(gsub)
        group = _deparse(gnode, backtick=False)
        random.append(RandomTerm(_deparse(lhs_node), group, Xl, cn,
                                 np.asarray(g.data, dtype=np.intp), list(g.levels)))
        rspecs.append(_RandomSpec(lhs_node, gnode, text, design, [a.name for a in atoms],
                                  [list(x.levels) for x in gsub], list(g.levels)))

    spec = _Spec(fixed, rspecs, list(fixed_terms.offsets), offset_column, state)
    return ModelFrame(
        formula=formula, response_name=response_name, y=y, response_levels=response_levels,
        X=X, fixef_names=names, term_labels=list(fixed.term_labels), assign=assign,
        random=random, offset=off, weights=w, rows=rows, nobs_dropped=int(n - m), _spec=spec)


# =============================================================================
# Formula editing
# =============================================================================


@_formula_entry
def drop_fixed_term(formula: str, term_label: str) -> str:
    """The formula with one fixed-effects term removed (for drop1).

    `term_label` is an R term label ("Days", "species:forest"; the order of the
    variables in an interaction does not matter) or "(Intercept)". Random-effects
    terms and offsets are kept as written.
    """
    lhs, rhs = _split_formula(formula)
    fixed_node, _ = _split_bars(rhs, formula)
    t = _Terms.of(fixed_node, f"formula {formula!r}")
    intercept = t.intercept
    terms = list(t.terms)
    if term_label.strip() == "(Intercept)":
        if not intercept:
            raise FormulaError(f"formula {formula!r} has no intercept to drop")
        intercept = False
    else:
        want = _Terms.of(_parse(term_label), f"term {term_label!r}")
        if len(want.terms) != 1:
            raise FormulaError(f"{term_label!r} is not a single term")
        wkeys = {_deparse(want.vars[i]) for i in want.terms[0]}
        hit = [x for x in terms if {_deparse(t.vars[i]) for i in x} == wkeys]
        if not hit:
            raise FormulaError(f"term '{term_label}' is not in the fixed part of {formula!r} "
                               f"(terms: {[t.label(x) for x in terms]})")
        terms.remove(hit[0])
    parts = [] if intercept else ["0"]
    parts += [t.label(x) for x in terms]
    parts += [f"offset({_deparse(o)})" for o in t.offsets]
    # random terms as written in the original text
    _collect_bar_texts(rhs, formula, parts)
    if not parts:
        parts = ["1"]
    return f"{_deparse(lhs)} ~ " + " + ".join(parts)


def _collect_bar_texts(node, text, out):
    if isinstance(node, _BinOp) and node.op in ("+", "-"):
        _collect_bar_texts(node.lhs, text, out)
        if node.op == "+":
            _collect_bar_texts(node.rhs, text, out)
        return
    if isinstance(node, _Paren):
        inner = _unparen(node)
        if isinstance(inner, _BinOp) and inner.op in ("|", "||"):
            out.append("(" + _deparse(inner) + ")")


def update_formula(old: str, new: str) -> str:
    """R's update.formula for the common '. ~ . + x' / '. ~ . - x' forms, or a whole new formula."""
    if "." not in new.replace(" ", "").split("~")[0] and "~ ." not in new and "~." not in new:
        return new
    lhs_old, rhs_old = [s.strip() for s in old.split("~", 1)]
    lhs_new, rhs_new = [s.strip() for s in new.split("~", 1)]
    lhs = lhs_new.replace(".", lhs_old) if lhs_new == "." else lhs_new
    rhs = rhs_new.replace(".", f"{rhs_old}", 1) if rhs_new.startswith(".") else rhs_new
    if " - " in rhs:
        base, *drops = rhs.split(" - ")
        terms = [t.strip() for t in _split_top(base)]
        for d in drops:
            terms = [t for t in terms if t.replace(" ", "") != d.strip().replace(" ", "")]
        rhs = " + ".join(terms)
    return f"{lhs} ~ {rhs}"


def _split_top(s: str):
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "+" and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [t for t in out if t.strip()]
