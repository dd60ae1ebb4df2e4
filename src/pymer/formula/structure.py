"""The data-free reading of a formula, cached: sides, bars, terms, lme4's expansions.

Everything :func:`pymer.formula.parse_formula` learns from the formula text alone
(the syntax tree, the random-effects terms after lme4's expansion of ``||`` and
``/``, R's terms of the fixed part and of each left side, the variables to
evaluate and their R names) depends only on the formula string, on whether a
random-effects term is required and, when the formula has a ``.``, on the data's
column names. :func:`formula_structure` computes it once per such key and keeps
it in a bounded least-recently-used cache, so a formula fitted again (a
bootstrap, many models, a benchmark loop) is not tokenized, parsed and expanded
again.

What is cached holds no data and is never changed after it is built: syntax
nodes are not modified anywhere in pymer (edits build new trees), and the
:class:`_Terms` objects and tuples here are only read. A formula that cannot be
read raises every time (exceptions are not cached), in the same order of checks
as without the cache.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

from ..errors import FormulaError
from .algebra import _Terms
from .bars import _Bar, _expand_nesting, _group_atoms, _split_bars
from .syntax import _BinOp, _Call, _deparse, _Name, _Node, _Paren, _split_formula, _Unary

_CACHE_SIZE = 512


class _RandomPart(NamedTuple):
    """One random-effects term after lme4's expansions, with the R names parse_formula needs."""

    lhs: _Node             # the left side's node
    group: _Node           # the grouping factor's node (b:a for a/b)
    text: str              # the term as written, for messages
    terms: _Terms          # R's terms of the left side
    atoms: tuple           # the grouping factor's variables (_Name nodes)
    lhs_name: str          # _deparse(lhs)
    group_name: str        # _deparse(group, backtick=False): lme4's name of the grouping factor
    var_keys: tuple        # R's names of the left side's variables (in terms.vars order)
    atom_keys: tuple       # R's names of the atoms


class FormulaStructure(NamedTuple):
    """What a formula says without data (see the module docstring)."""

    lhs: _Node | None
    response_name: str
    fixed_terms: _Terms
    fixed_keys: tuple      # R's names of the fixed part's variables (fixed_terms.vars order)
    offset_keys: tuple     # R's names of the fixed part's offset() arguments
    random: tuple          # _RandomPart per random-effects term, in lme4's order


def formula_structure(formula, columns, require_random: bool = True) -> FormulaStructure:
    """The data-free reading of `formula` (cached; see the module docstring).

    Parameters
    ----------
    formula : str
        The model formula (anything else is the FormulaError it always was).
    columns : sequence
        The data's column labels; only read when the formula has a ``.``.
    require_random : bool
        A formula without a random-effects term is a FormulaError.

    Returns
    -------
    FormulaStructure
    """
    if type(formula) is not str:
        # not cacheable as given (not a string, or a str subclass): read it afresh
        return _structure(formula, _column_names(columns), require_random)
    _lhs, _rhs, has_dot = _sides(formula)
    return _cached_structure(formula, _column_names(columns) if has_dot else None, bool(require_random))


def _column_names(columns) -> tuple:
    return tuple(str(c) for c in columns)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _sides(formula: str) -> tuple:
    lhs, rhs = _split_formula(formula)
    has_dot = any(isinstance(x, _Name) and x.name == "." and not x.quoted for x in _walk(rhs))
    return lhs, rhs, has_dot


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _cached_structure(formula: str, columns: tuple | None, require_random: bool) -> FormulaStructure:
    return _structure(formula, columns, require_random)


def _structure(formula, columns, require_random: bool) -> FormulaStructure:
    if type(formula) is str:
        lhs, rhs, has_dot = _sides(formula)
    else:
        lhs, rhs = _split_formula(formula)
        has_dot = True
    if has_dot:
        rhs = _expand_dot(rhs, lhs, columns)
    fixed_node, bars = _split_bars(rhs, formula)
    bars = [b for group in bars for b in group]
    if require_random and not bars:
        raise FormulaError("no random effects terms specified in formula")
    fixed_terms = _Terms.of(fixed_node, f"formula {formula!r}")
    return FormulaStructure(
        lhs=lhs, response_name=_deparse(lhs), fixed_terms=fixed_terms,
        fixed_keys=tuple(_deparse(v) for v in fixed_terms.vars),
        offset_keys=tuple(_deparse(o) for o in fixed_terms.offsets),
        random=tuple(_random_parts(bars)))


def _random_parts(bars: list[_Bar]) -> list[_RandomPart]:
    """lme4's expansion of nesting, then R's terms of each left side."""
    out = []
    for bar in bars:
        where = f"random-effects term {bar.text!r}"
        for gnode in _expand_nesting(bar.group):
            t = _Terms.of(bar.lhs, where)
            if t.offsets:
                raise FormulaError(f"offset() is not allowed in {where}")
            if not t.terms and not t.intercept:
                raise FormulaError(f"{where} has no columns (its left side is empty)")
            atoms = tuple(_group_atoms(gnode, bar.text))
            out.append(_RandomPart(
                lhs=bar.lhs, group=gnode, text=bar.text, terms=t, atoms=atoms,
                lhs_name=_deparse(bar.lhs), group_name=_deparse(gnode, backtick=False),
                var_keys=tuple(_deparse(v) for v in t.vars),
                atom_keys=tuple(_deparse(a) for a in atoms)))
    return out


# ---- '.' in the right side -----------------------------------------------------


def _expand_dot(rhs: _Node | None, lhs: _Node | None, columns) -> _Node | None:
    """'.' in the right side: every column of the data not used in the response,
    in the data's order (R's terms(formula, data = ))."""
    if rhs is None or not any(isinstance(x, _Name) and x.name == "." and not x.quoted
                              for x in _walk(rhs)):
        return rhs
    used = {x.name for x in _walk(lhs)} if lhs is not None else set()
    cols = [str(c) for c in columns if str(c) not in used]
    if not cols:
        raise FormulaError("'.' in the formula stands for no column: the data have no other columns")
    expansion: _Node = _Name(cols[0], quoted=True)
    for c in cols[1:]:
        expansion = _BinOp("+", expansion, _Name(c, quoted=True))
    return _replace_dot(rhs, _Paren(expansion))


def _walk(node: _Node):
    yield node
    for child in _children(node):
        yield from _walk(child)


def _children(node: _Node) -> list:
    if isinstance(node, _BinOp):
        return [node.lhs, node.rhs]
    if isinstance(node, (_Paren, _Unary)):
        return [node.x]
    if isinstance(node, _Call):
        return [a for _, a in node.args]
    return []


def _replace_dot(node: _Node, expansion: _Node) -> _Node:
    if isinstance(node, _Name) and node.name == "." and not node.quoted:
        return expansion
    if isinstance(node, _BinOp):
        return _BinOp(node.op, _replace_dot(node.lhs, expansion), _replace_dot(node.rhs, expansion),
                      node.pos, node.end)
    if isinstance(node, _Paren):
        return _Paren(_replace_dot(node.x, expansion), node.pos, node.end)
    if isinstance(node, _Unary):
        return _Unary(node.op, _replace_dot(node.x, expansion), node.pos, node.end)
    return node


def clear_formula_cache() -> None:
    """Empty the cache of formula readings (they are rebuilt on the next use)."""
    _sides.cache_clear()
    _cached_structure.cache_clear()
