"""The model matrix of one side of a formula, as R's model.matrix() builds it.

R's rule for coding factors in each term (contrasts when the term without the
factor is spanned by the terms before it, indicator columns otherwise),
treatment and polynomial contrasts, and R's column names. A :class:`_Design`
keeps the encoding so that new data can be coded the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._core._design import kron_blocks
from ..errors import PymerDataError
from .algebra import _Terms
from .contrasts import contr_poly, contrast_matrix, poly_names
from .evaluate import _Value
from .syntax import _deparse, _Node


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
    levels: list[str] | None = None
    ordered: bool = False
    cols: list | None = None        # suffixes of a matrix-valued variable's columns
    contrasts: object = None        # C()'s contr.* name, or the contrasts= entry
    by_levels: bool = True          # contrasts= (sees the levels) or C() (their number)


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
        assert v.levels is not None     # codings name factors only
        L = len(v.levels)
        if coding == "full":
            return np.eye(L), list(v.levels)
        if L < 2:
            raise PymerDataError(
                f"contrasts can be applied only to factors with 2 or more levels: '{v.key}' has "
                f"only level(s) {v.levels} in the rows used")
        if v.contrasts is not None:
            return contrast_matrix(v.contrasts, v.levels, v.key, v.by_levels)
        if v.ordered:
            return contr_poly(L), poly_names(L)
        return np.eye(L)[:, 1:], list(v.levels[1:])

    def build(self, values: list[_Value], n: int) -> tuple[np.ndarray, list[str], np.ndarray]:
        """Model matrix (n, p) from the variables' values (factor codes already in this
        design's levels, no missing values), its column names and R's 'assign'."""
        if not self.terms:
            # an intercept alone ((1 | g), y ~ 1) or nothing: no blocks to multiply out
            if self.intercept:
                return np.ones((n, 1)), ["(Intercept)"], np.zeros(1, dtype=np.intp)
            return np.empty((n, 0)), [], np.zeros(0, dtype=np.intp)
        names, assign = [], []
        if self.intercept:
            names.append("(Intercept)")
            assign.append(0)
        # per term its variables' columns (n x k each) and the block's column names
        factors = []
        for ti, (term, coding) in enumerate(zip(self.terms, self.codings), start=1):
            mats: list[np.ndarray] = []
            codes: list[np.ndarray | None] = []
            bnames = [""]
            for vi, code in zip(term, coding):
                v = self.vars[vi]
                if code == "num":
                    B = values[vi].data if v.cols is not None else values[vi].data[:, None]
                    mats.append(np.ascontiguousarray(B, dtype=np.float64))
                    codes.append(None)
                    parts = [v.key + c for c in v.cols] if v.cols is not None else [v.key]
                else:
                    C, cn = self.contrast(vi, code)
                    mats.append(np.ascontiguousarray(C, dtype=np.float64))
                    codes.append(np.ascontiguousarray(values[vi].data, dtype=np.int64))
                    parts = [v.key + c for c in cn]
                bnames = [f"{b}:{p}" if b else p for p in parts for b in bnames]
            factors.append((mats, codes))
            names.extend(bnames)
            assign.extend([ti] * len(bnames))
        # each term's block is the row-wise Kronecker product of its variables' columns
        # (the first varying fastest; a factor's columns are its contrast rows), written
        # in place into X in one compiled pass over its rows
        X = np.empty((n, len(names)))
        kron_blocks(X, self.intercept, factors)
        return X, names, np.asarray(assign, dtype=np.intp)


def _design_from_terms(t: _Terms, values: list[_Value], contrasts: dict | None = None) -> _Design:
    """The design of terms `t`; `contrasts` maps variable names to contrasts (R's
    ``contrasts.arg``), which override those of C() and the defaults."""
    specs = []
    for node, v in zip(t.vars, values):
        key = _deparse(node)
        if v.kind == "num":
            cols = v.cols
            if cols is None and v.data.ndim == 2:      # log(X) of a matrix X: R numbers them
                cols = [str(k) for k in range(1, v.data.shape[1] + 1)]
            specs.append(_VarSpec(key, node, "num", cols=cols))
        else:
            spec = _VarSpec(key, node, "fac", list(v.levels), bool(v.ordered),
                            contrasts=v.contrasts, by_levels=False)
            if contrasts and _deparse(node, backtick=False) in contrasts:
                spec.contrasts = contrasts[_deparse(node, backtick=False)]
                spec.by_levels = True
            specs.append(spec)
    terms = [tuple(sorted(x)) for x in t.terms]
    codings = _codings(t.terms, [s.kind == "fac" for s in specs], t.intercept)
    return _Design(specs, terms, codings, t.intercept, [t.label(x) for x in t.terms])


def _as_model_var(v: _Value, what: str) -> _Value:
    """A variable as model.matrix uses it: a logical is a factor with levels FALSE, TRUE
    (both, even when one does not occur: R gives an all-zero column then)."""
    if v.kind == "lgl":
        codes = np.where(np.isnan(v.data), -1, v.data != 0).astype(np.intp)
        if v.data.ndim != 1:
            raise PymerDataError(f"'{what}' is a logical matrix; pymer needs numbers there")
        return _Value("fac", codes, ["FALSE", "TRUE"])
    return v
