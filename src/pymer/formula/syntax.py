"""R's formula syntax: the syntax tree, tokenizer, parser and deparser.

A formula is parsed with R's operator precedence (``?Syntax``) into a small
tree of nodes (names, numbers, strings, calls, binary and unary operators,
parentheses); :func:`_deparse` writes a tree back as R's ``deparse()`` does,
on one line or (:func:`deparse_lines`) broken into lines as R breaks them.
"""
from __future__ import annotations

import functools
import math
import re
from typing import Literal, NamedTuple, NoReturn, TypeGuard, overload

from ..errors import FormulaError


# =============================================================================
# Syntax tree
# =============================================================================


class _Node:
    __slots__ = ("pos", "end")
    pos: int       # where the node starts and ends in the formula's text (-1: built, not read)
    end: int


class _Name(_Node):
    __slots__ = ("name", "quoted")

    def __init__(self, name: str, pos: int = -1, end: int = -1, quoted: bool = False):
        self.name, self.pos, self.end, self.quoted = name, pos, end, quoted


class _Num(_Node):
    __slots__ = ("value", "is_int")

    def __init__(self, value: float, is_int: bool = False, pos: int = -1, end: int = -1):
        self.value, self.is_int, self.pos, self.end = value, is_int, pos, end


class _Str(_Node):
    __slots__ = ("value",)

    def __init__(self, value: str, pos: int = -1, end: int = -1):
        self.value, self.pos, self.end = value, pos, end


class _Call(_Node):
    __slots__ = ("fn", "args")  # args: list of (name or None, node)

    def __init__(self, fn: _Name, args: list[tuple[str | None, _Node]], pos: int = -1,
                 end: int = -1):
        self.fn, self.args, self.pos, self.end = fn, args, pos, end


class _BinOp(_Node):
    __slots__ = ("op", "lhs", "rhs")

    def __init__(self, op: str, lhs: _Node, rhs: _Node, pos: int = -1, end: int = -1):
        self.op, self.lhs, self.rhs, self.pos, self.end = op, lhs, rhs, pos, end


class _Unary(_Node):
    __slots__ = ("op", "x")

    def __init__(self, op: str, x: _Node, pos: int = -1, end: int = -1):
        self.op, self.x, self.pos, self.end = op, x, pos, end


class _Paren(_Node):
    __slots__ = ("x",)

    def __init__(self, x: _Node, pos: int = -1, end: int = -1):
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
    value: tuple[float, bool] | str | None = None   # num: (value, is_int); str: the text


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
            assert m is not None       # a digit, or '.' and a digit, starts a number
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

    def error(self, msg: str, pos: int) -> NoReturn:
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
            assert isinstance(t.value, tuple)
            value, is_int = t.value
            return _Num(value, is_int, t.pos, t.pos + len(t.text))
        if t.kind == "str":
            assert isinstance(t.value, str)
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
        if op in ("::", ":::") and isinstance(left, _Name) and not left.quoted:
            nxt = self.next()
            if nxt.kind != "name":
                self.error(f"a function name must follow {op!r}", t.pos)
            # pkg::fun is one name (R's stats::poly, splines::ns)
            return _Name(left.name + op + nxt.text, left.pos, nxt.pos + len(nxt.text))
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
        args: list[tuple[str | None, _Node]] = []
        if self.peek().text != ")":
            while True:
                name: str | None = None
                a = self.toks[self.i]
                b = self.toks[self.i + 1] if a.kind != "eof" else a
                if a.kind in ("name", "qname", "str") and b.text == "=":
                    name = a.text
                    if a.kind == "str":
                        assert isinstance(a.value, str)
                        name = a.value
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


def _deparse_name(name: str) -> str:
    """An argument name as R writes it: backquoted unless syntactic."""
    return name if _is_syntactic(name) else "`" + name + "`"


class _Deparser:
    """Write an expression as R's deparse() does (spacing, numbers, backquotes).

    Without a cutoff the expression is one line. With one, lines are broken as
    R's deparse (``width.cutoff``) breaks them: after a binary operator written
    with spaces around it, or after the comma of an argument list, once the line
    is longer than the cutoff; continuation lines are indented by four spaces per
    open break (two from the fifth on).
    """

    def __init__(self, backtick: bool = True, cutoff: int | None = None):
        self.backtick = backtick
        self.cutoff = cutoff
        self.lines: list[str] = []
        self.buf = ""
        self.indent = 0

    def write(self, text: str):
        if not self.buf and self.indent:
            self.buf = "".join("    " if k < 4 else "  " for k in range(self.indent))
        self.buf += text

    def newline(self):
        self.lines.append(self.buf)
        self.buf = ""

    def breakable(self, broke: bool) -> bool:
        """R's linebreak(): a new line when this one is past the cutoff."""
        if self.cutoff is not None and len(self.buf) > self.cutoff:
            if not broke:
                self.indent += 1
                broke = True
            self.newline()
        return broke

    def node(self, node: _Node):
        if isinstance(node, _BinOp):
            self.node(node.lhs)
            if node.op in _NOSPACE_OPS:
                self.write(node.op)
                self.node(node.rhs)
                return
            self.write(f" {node.op} ")
            broke = self.breakable(False)
            self.node(node.rhs)
            if broke:
                self.indent -= 1
        elif isinstance(node, _Paren):
            self.write("(")
            self.node(node.x)
            self.write(")")
        elif isinstance(node, _Unary):
            self.write(node.op)
            self.node(node.x)
        elif isinstance(node, _Call):
            self.node(node.fn)
            self.write("(")
            broke = False
            for k, (name, arg) in enumerate(node.args):
                if name is not None:
                    self.write(f"{_deparse_name(name)} = ")
                self.node(arg)
                if k < len(node.args) - 1:
                    self.write(", ")
                    broke = self.breakable(broke)
            self.write(")")
            if broke:
                self.indent -= 1
        else:
            self.write(self.leaf(node))

    def leaf(self, node: _Node) -> str:
        if isinstance(node, _Name):
            if self.backtick and not _is_syntactic(node.name) and (
                    node.quoted or node.name not in _RESERVED) and (
                    node.quoted or "::" not in node.name):
                return "`" + node.name.replace("`", "\\`") + "`"
            return node.name
        if isinstance(node, _Num):
            if node.is_int:
                return f"{int(node.value)}L"
            return r_number_label(node.value)
        if isinstance(node, _Str):
            return '"' + node.value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        raise TypeError(node)  # pragma: no cover


def _deparse(node: _Node, backtick: bool = True) -> str:
    """The expression as R's deparse() writes it, on one line."""
    d = _Deparser(backtick)
    d.node(node)
    return d.buf


def deparse_lines(formula: str, cutoff: int = 60) -> list[str]:
    """The formula as R's ``deparse()`` writes it: R's spacing, split into lines of
    about `cutoff` characters (R's ``width.cutoff``).

    Parameters
    ----------
    formula : str
        A formula (or any R expression) in R's syntax.
    cutoff : int
        R's ``width.cutoff``: a line is broken at the first break point past it.

    Returns
    -------
    list of str
        The lines; the text itself (one line) if it cannot be parsed.
    """
    if not isinstance(formula, str):
        return [str(formula)]
    try:
        node = _parse(formula)
    except (FormulaError, RecursionError):
        return [formula]
    d = _Deparser(cutoff=cutoff)
    d.node(node)
    if d.buf or not d.lines:
        d.newline()
    return d.lines


# ---- questions about a tree and reading a formula's two sides ---------------------


def _unparen(node: _Node) -> _Node:
    while isinstance(node, _Paren):
        node = node.x
    return node


def _is_bar(node: _Node) -> TypeGuard[_BinOp]:
    """A random-effects term's bar, ``x | g`` or ``x || g``."""
    return isinstance(node, _BinOp) and node.op in ("|", "||")


def _contains_bar(node: _Node) -> bool:
    if isinstance(node, _BinOp):
        return _is_bar(node) or _contains_bar(node.lhs) or _contains_bar(node.rhs)
    if isinstance(node, (_Paren, _Unary)):
        return _contains_bar(node.x)
    if isinstance(node, _Call):
        return any(_contains_bar(a) for _, a in node.args)
    return False


def _contains_op(node: _Node, op: str) -> bool:
    if isinstance(node, _BinOp):
        return node.op == op or _contains_op(node.lhs, op) or _contains_op(node.rhs, op)
    if isinstance(node, (_Paren, _Unary)):
        return _contains_op(node.x, op)
    return False


@overload
def _split_formula(formula: str, one_sided: Literal[False] = ...) -> tuple[_Node, _Node]: ...
@overload
def _split_formula(formula: str, one_sided: bool) -> tuple[_Node | None, _Node]: ...
def _split_formula(formula: str, one_sided: bool = False) -> tuple[_Node | None, _Node]:
    """(left side, right side) of a formula; the left side is None for a one-sided
    formula ``~ x`` when `one_sided` allows one, else that is an error."""
    if not isinstance(formula, str):
        raise FormulaError(f"the formula must be a string, not {type(formula).__name__}")
    if not formula.strip():
        raise FormulaError("empty formula")
    tree = _parse(formula)
    if isinstance(tree, _Unary) and tree.op == "~":
        if not one_sided:
            raise FormulaError(f"formula {formula!r} has no response: write it as 'y ~ ...'")
        lhs, rhs = None, tree.x
    elif isinstance(tree, _BinOp) and tree.op == "~":
        lhs, rhs = tree.lhs, tree.rhs
    else:
        raise FormulaError(f"formula {formula!r} has no '~' (write it as 'response ~ terms')")
    if (lhs is not None and _contains_op(lhs, "~")) or _contains_op(rhs, "~"):
        raise FormulaError(f"formula {formula!r} has more than one '~'")
    return lhs, rhs


def _formula_entry(fn):
    """Entry points that read a formula: a formula nested too deeply for the
    recursive reader is a FormulaError, not a RecursionError."""
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
