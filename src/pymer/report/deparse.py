"""Formulas as R's deparse() writes them, with its line breaking (lme4 prints
them with cat(fill = TRUE))."""
from __future__ import annotations

from ..formula import _BinOp, _Call, _Paren, _Unary, _deparse, _is_syntactic, _parse


_NOSPACE = {"^", ":", "/", "%%", "%/%", "$", "@", "::"}


class _LineDeparser:
    """Write an expression as R's deparse() does, with its line breaking.

    R's deparse (width.cutoff = 60) breaks a line after a binary operator (with
    spaces around it) or after the comma of an argument list, once the line is
    longer than the cutoff; continuation lines are indented by four spaces per
    open break.
    """

    def __init__(self, cutoff=60):
        self.cutoff = cutoff
        self.lines = []
        self.buf = ""
        self.indent = 0

    def write(self, text):
        if not self.buf:
            self.buf = "".join("    " if k < 4 else "  " for k in range(self.indent))
        self.buf += text

    def newline(self):
        self.lines.append(self.buf)
        self.buf = ""

    def breakable(self, broke):
        """R's linebreak(): a new line when this one is past the cutoff."""
        if len(self.buf) > self.cutoff:
            if not broke:
                self.indent += 1
                broke = True
            self.newline()
        return broke

    def node(self, node):
        if isinstance(node, _BinOp):
            self.node(node.lhs)
            if node.op in _NOSPACE:
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
            self.write(_deparse(node))

    def deparse(self, node):
        self.node(node)
        if self.buf or not self.lines:
            self.newline()
        return self.lines


def _deparse_name(name):
    return name if _is_syntactic(name) else "`" + name + "`"


def deparse_lines(formula: str, cutoff=60) -> list:
    """The formula as R's ``deparse()`` writes it: R's spacing, split into lines of
    about `cutoff` characters. Falls back to the text itself if it cannot be parsed."""
    try:
        node = _parse(formula)
    except Exception:
        return [str(formula)]
    return _LineDeparser(cutoff).deparse(node)
