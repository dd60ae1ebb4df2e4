"""Random-effects terms: finding lme4's bars and expanding them.

``(x | g)`` terms are taken out of the right side of a formula; ``(x || g)``
becomes uncorrelated terms and ``(1 | a/b)`` the terms of ``b:a`` and ``a``, as
lme4 expands them (``?lme4::findbars``, ``?lme4::expandDoubleVerts``); a
grouping factor ``a:b`` is the interaction of its factors in lme4's order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import FormulaError
from .algebra import _Terms
from .evaluate import _Value
from .syntax import (_BinOp, _contains_bar, _contains_op, _deparse, _is_bar, _Name, _Node, _Num,
                     _Paren, _Unary, _unparen)


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
        if _is_bar(inner):
            return None, [_expand_double(inner, text[node.pos:node.end])]
    if _is_bar(node):
        # a bar without parentheses ('y ~ x | g', 'Yield ~ 1 | Batch'): R's precedence makes it
        # the whole right side, which lme4 reads as one random-effects term and no fixed part
        # but the intercept
        return None, [_expand_double(node, _deparse(node))]
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
        uniq, inv = _unique_codes(combined[~na], len(labels) * nw)
        new = np.full(codes.shape, -1, dtype=np.intp)
        new[~na] = inv
        wl = w.levels
        labels = [labels[u // nw] + ":" + wl[u % nw] for u in uniq.tolist()]
        codes = new
    return _Value("fac", codes, labels)


def _unique_codes(codes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(codes, return_inverse=True)`` for codes in 0..size-1: by counting when
    the range is small next to the number of codes (no sort), else by np.unique."""
    if size > 4 * codes.size + 1024:
        return np.unique(codes, return_inverse=True)
    present = np.bincount(codes, minlength=size) > 0
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present), rank[codes]


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
