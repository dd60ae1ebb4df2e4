"""lme4's model formulas -> model matrices.

``parse_formula("Reaction ~ Days + (Days | Subject)", data)`` reads a formula as
R and lme4 read it and returns a :class:`ModelFrame`: the response, the
fixed-effects model matrix with R's column names, and one :class:`RandomTerm`
per random-effects term (after lme4's expansion of ``||`` and ``/``).

The formula is parsed with R's operator precedence into a small syntax tree
(:mod:`.syntax`). The fixed part and each random term's left side go through
R's term algebra (``+ - * / : ^ %in%``, ``0``/``1``, :mod:`.algebra`), R's term
ordering and R's rule for coding factors in interactions (a factor is coded by
contrasts when the term without it is spanned by the terms before it,
otherwise by indicator columns, :mod:`.design`), and the columns are named as
R's ``model.matrix`` names them. Variables are evaluated once on the whole data
(as R's ``model.frame`` does, :mod:`.evaluate`), then rows with missing values
are dropped and unused factor levels dropped (as lme4 does, :mod:`.frame`).
Random-effects terms are found and expanded as lme4 does (:mod:`.bars`).
What the formula says without data (sides, bars, terms, R's names) is read once
per formula and kept in a bounded cache (:mod:`.structure`).
Formulas are edited on the syntax tree (:mod:`.edit`).

``poly()``, ``splines::ns()`` and ``bs()`` bases keep their coefficients and
knots for new data (:mod:`.splines`); factors are coded by R's contrast
functions or a matrix (:mod:`.contrasts`: ``C()``, the ``contrasts=`` argument).

The modules depend one way: contrasts and splines on no other formula module;
algebra and evaluate on syntax (evaluate also on contrasts and splines); design
and bars on syntax, algebra and evaluate (design also on contrasts); structure
on syntax, algebra and bars; frame on all of these; edit on syntax and algebra only (editing a formula needs no data).

This follows the documented behaviour of R (``?formula``, ``?terms.object``,
``?model.matrix``, ``?update.formula``, Chambers & Hastie 1992, ch. 2) and of
lme4 (``?lme4::findbars``, ``?lme4::expandDoubleVerts``), checked against R's output.
"""
from .bars import RandomTerm
from .contrasts import contr_poly
from .edit import drop_fixed_term, update_formula
from .frame import ModelFrame, NewData, NewRandomTerm, parse_formula
from .syntax import deparse_lines, r_number_label

# private names other pymer modules use
from .evaluate import _Evaluator  # noqa: F401
from .frame import _as_frame, _encode_new, _to_pandas  # noqa: F401
from .syntax import _BinOp, _Call, _deparse, _is_syntactic, _Paren, _parse, _Unary  # noqa: F401

__all__ = [
    "parse_formula",
    "ModelFrame",
    "RandomTerm",
    "NewData",
    "NewRandomTerm",
    "update_formula",
    "drop_fixed_term",
    "deparse_lines",
    "contr_poly",
    "r_number_label",
]
