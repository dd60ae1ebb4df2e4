"""Editing formulas on the syntax tree: R's ``update.formula`` and drop1's term removal.

Both read the formula into a syntax tree, edit the tree with R's term algebra
(random-effects terms in parentheses are terms like any other, as R's terms()
reads them) and write it back with the deparser: no text surgery.
"""
from __future__ import annotations

from ..errors import FormulaError
from .algebra import _Terms
from .syntax import (_BinOp, _Call, _deparse, _formula_entry, _is_bar, _Name, _Node, _Num, _Paren,
                     _parse, _split_formula, _Unary, _unparen)

__all__ = ["update_formula", "drop_fixed_term"]


@_formula_entry
def update_formula(old: str, new: str) -> str:
    """R's ``update.formula``: `new` with ``.`` standing for the sides of `old`.

    A ``.`` on the left of `new` is the old response, a ``.`` on the right the
    old right side; a one-sided `new` (``"~ . + x"``) keeps the old response.
    The right side is then simplified as R simplifies it: expanded into its
    terms in R's order (``a*b`` becomes ``a + b + a:b``), removed terms gone,
    offsets after the terms, a missing intercept written ``- 1``.
    Random-effects terms ``(x | g)`` and ``(x || g)`` are terms as written.

    Parameters
    ----------
    old : str
        The formula to update, e.g. ``"y ~ x + (1 | g)"``.
    new : str
        The change, e.g. ``". ~ . - x"``, ``"log(.) ~ . + z"``, ``"~ . - 1"``,
        or a whole new formula.

    Returns
    -------
    str
        The updated formula as R's deparse() writes it.

    Examples
    --------
    >>> update_formula("y ~ a*b + (1|g)", ". ~ . - a:b")
    'y ~ a + b + (1 | g)'
    """
    old_lhs, old_rhs = _split_formula(old, one_sided=True)
    new_lhs, new_rhs = _split_formula(new, one_sided=True)
    if new_lhs is None:
        lhs = old_lhs
    elif _has_dot(new_lhs):
        if old_lhs is None:
            raise FormulaError(f"'.' on the left of {new!r} stands for the response of {old!r}, "
                               "which has none")
        lhs = _substitute_dot(new_lhs, old_lhs)
    else:
        lhs = new_lhs
    rhs = _substitute_dot(new_rhs, _Paren(old_rhs))    # R reads the old side as one unit
    where = f"the update of {old!r} by {new!r}"
    t = _Terms.of(rhs, where, bars=True)
    _check_bars_alone(t, where)
    parts = [_term_node(t, term) for term in t.terms]
    parts += [_offset_node(o) for o in t.offsets]
    rhs = _sum(parts) if parts else _Num(1.0)
    if not t.intercept:
        rhs = _BinOp("-", rhs, _Num(1.0))
    return _deparse(_Unary("~", rhs) if lhs is None else _BinOp("~", lhs, rhs))


@_formula_entry
def drop_fixed_term(formula: str, term_label: str) -> str:
    """The formula with one fixed-effects term removed (for drop1).

    Parameters
    ----------
    formula : str
        A model formula, ``"y ~ a*b + x + (1 | g)"``.
    term_label : str
        An R term label (``"Days"``, ``"species:forest"``: the order of the
        variables in an interaction does not matter) or ``"(Intercept)"``.

    Returns
    -------
    str
        ``response ~ [0 +] fixed terms + offsets + random-effects terms``: the
        fixed terms expanded in R's order, the random-effects terms as written.
    """
    lhs, rhs = _split_formula(formula)
    t = _Terms.of(rhs, f"formula {formula!r}", bars=True)
    bars = _check_bars_alone(t, f"formula {formula!r}")
    terms = [x for x in t.terms if x not in bars]
    intercept = t.intercept
    if not isinstance(term_label, str):
        raise FormulaError(f"the term to drop must be a term label (a string), "
                           f"not {type(term_label).__name__}")
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
    parts: list[_Node] = [] if intercept else [_Num(0.0)]
    parts += [_term_node(t, x) for x in terms]
    parts += [_offset_node(o) for o in t.offsets]
    parts += [_term_node(t, x) for x in bars]
    return _deparse(_BinOp("~", lhs, _sum(parts) if parts else _Num(1.0)))


# ---- tree pieces --------------------------------------------------------------------------


def _has_dot(node: _Node) -> bool:
    if isinstance(node, _Name):
        return node.name == "."
    if isinstance(node, (_Paren, _Unary)):
        return _has_dot(node.x)
    if isinstance(node, _BinOp):
        return _has_dot(node.lhs) or _has_dot(node.rhs)
    if isinstance(node, _Call):
        return any(_has_dot(a) for _, a in node.args)
    return False


def _substitute_dot(node: _Node, by: _Node, operand: bool = False) -> _Node:
    """A copy of `node` with every ``.`` replaced by `by`; an operator expression
    replacing the operand of an operator is parenthesized (``log(.) + 1`` with
    ``a + b``: ``log(a + b) + 1``; ``. - 1``: ``(a + b) - 1``)."""
    if isinstance(node, _Name) and node.name == ".":
        return _Paren(by) if operand and isinstance(by, (_BinOp, _Unary)) else by
    if isinstance(node, _Paren):
        return _Paren(_substitute_dot(node.x, by))
    if isinstance(node, _Unary):
        return _Unary(node.op, _substitute_dot(node.x, by, True))
    if isinstance(node, _BinOp):
        return _BinOp(node.op, _substitute_dot(node.lhs, by, True),
                      _substitute_dot(node.rhs, by, True))
    if isinstance(node, _Call):
        return _Call(node.fn, [(nm, _substitute_dot(a, by)) for nm, a in node.args])
    return node


def _check_bars_alone(t: _Terms, where: str) -> list[frozenset]:
    """The terms that are random-effects terms; one inside an interaction is an error."""
    bars = []
    for term in t.terms:
        inside = [t.vars[i] for i in term if _is_bar(_unparen(t.vars[i]))]
        if inside and len(term) > 1:
            raise FormulaError(f"random-effects term '{_deparse(inside[0])}' cannot be part of "
                               f"the interaction '{t.label(term)}' in {where}")
        if inside:
            bars.append(term)
    return bars


def _term_node(t: _Terms, term: frozenset) -> _Node:
    """A term as R labels it (its variables joined by ':'), operator expressions
    (``x > 1``, ``!a``) parenthesized so that the result reads back as the same term."""
    node: _Node | None = None
    for i in sorted(term):
        v = t.vars[i]
        if isinstance(v, (_BinOp, _Unary)):
            v = _Paren(v)
        node = v if node is None else _BinOp(":", node, v)
    assert node is not None     # a term has at least one variable
    return node


def _offset_node(x: _Node) -> _Node:
    return _Call(_Name("offset"), [(None, x)])


def _sum(parts: list[_Node]) -> _Node:
    node = parts[0]
    for p in parts[1:]:
        node = _BinOp("+", node, p)
    return node
