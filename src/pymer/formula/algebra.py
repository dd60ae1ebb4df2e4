"""R's term algebra: the terms of one side of a formula.

``a*b`` is ``a + b + a:b``, ``(a+b)^2`` the terms up to degree 2, ``a/b`` is
``a + a:b``, ``-`` removes terms, ``0``/``1``/``-1`` set the intercept and
``offset()`` is kept apart; the terms are ordered as R orders them (by degree,
then order of appearance) and labelled as R labels them (``?formula``,
``?terms.object``). This works on the syntax tree alone: no data are needed.
"""
from __future__ import annotations

from ..errors import FormulaError
from .syntax import (_BinOp, _Call, _is_bar, _Name, _Node, _Num, _Paren, _Unary, _deparse,
                     _unparen)


class _Terms:
    """The terms of one formula side: variables in order of appearance, terms as
    sets of variable indices (R's order: by degree, then order of appearance)."""

    def __init__(self, bars: bool = False):
        self.bars = bars          # a parenthesized random-effects term is one variable
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
    def of(cls, node: _Node | None, where: str, bars: bool = False) -> "_Terms":
        """The terms of `node` (`where` names it in errors). With `bars`, a
        random-effects term in parentheses, ``(x | g)``, is one variable (as R's
        terms() reads it) instead of an error."""
        t = cls(bars)
        if node is not None:
            terms, removed, intercept = t._expand(node, where)
            t.terms = sorted([x for x in terms if x and x not in removed], key=len)
            if intercept is not None:
                t.intercept = intercept
        return t

    # each expansion returns (terms, removals, intercept or None)
    def _expand(self, node, where):
        if isinstance(node, _Paren):
            if self.bars and _is_bar(_unparen(node)):
                return [frozenset([self.var(_Paren(_unparen(node)))])], [], None
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
