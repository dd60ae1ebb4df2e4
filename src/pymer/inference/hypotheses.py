"""lmerTest's F tests of the fixed-effect terms (:func:`anova_ddf`) and the hypothesis
matrices they test, as SAS defines them (Goodnight 1980): type I from the Doolittle
decomposition of X'X, type II by term containment, type III as the coefficients of each
term under sum-to-zero coding of the factors, written in the model's own coding."""
from __future__ import annotations

from typing import Any
import copy
import types

import numpy as np
import pandas as pd

from ..call import fitted_rows
from ..formula import _encode_new, _Evaluator
from .ddf import _contestMD, _ddf_method
from .params import _require_lmm
from .table import AnovaTable

__all__ = ["anova_ddf"]


def _term_structure(mf):
    """Per fixed term: (set of factor variables, set of numeric variables), by variable key."""
    spec = getattr(mf, "_spec", None)
    if spec is not None:
        d = spec.fixed
        return [(frozenset(d.vars[v].key for v in term if d.vars[v].kind == "fac"),
                 frozenset(d.vars[v].key for v in term if d.vars[v].kind != "fac"))
                for term in d.terms]
    # without the design, treat every variable as a factor (containment by variables)
    return [(frozenset(lbl.split(":")), frozenset()) for lbl in mf.term_labels]


def _kept_assign(model):
    """R's assign for the columns the model kept (aliased columns dropped)."""
    mf = model.mf
    idx = [mf.fixef_names.index(nm) for nm in model.fixef_names]
    return np.asarray(mf.assign)[idx]


def _contains(a, b):
    """Does term b contain term a (SAS): same numeric variables, a's factors a proper subset of b's."""
    return a[1] == b[1] and a[0] < b[0]


def _hypotheses_type1(X, assign, nterms):
    """Type I: rows of the unit upper-triangular Doolittle factor of X'X, by term."""
    R = np.linalg.cholesky(X.T @ X).T
    U = R / np.diag(R)[:, None]
    return {t: U[assign == t] for t in range(1, nterms + 1)}


def _hypotheses_type2(X, assign, struct):
    """Type II: each term adjusted for every term that does not contain it."""
    out = {}
    nterms = len(struct)
    for t in range(1, nterms + 1):
        own = assign == t
        if not own.any():
            continue
        cont = [u for u in range(1, nterms + 1) if u != t and _contains(struct[t - 1], struct[u - 1])]
        rest = ~own & ~np.isin(assign, cont)
        X0, X1 = X[:, rest], X[:, own]
        if X0.shape[1]:
            Q, _ = np.linalg.qr(X0)
            MX = X - Q @ (Q.T @ X)
        else:
            MX = X
        A = X1.T @ MX[:, own]
        L = np.zeros((int(own.sum()), X.shape[1]))
        L[:, ~rest] = np.linalg.solve(A, X1.T @ MX[:, ~rest])
        out[t] = L
    return out


def _sum_coded_X(res):
    """The fixed-effects model matrix with sum-to-zero contrasts for the unordered
    factors coded by contrasts (same terms, same column space), and its assign."""
    model = res.model
    mf = model.mf
    spec = getattr(mf, "_spec", None)
    if spec is None or getattr(model, "call", None) is None or model.call.data is None:
        return None
    design = copy.copy(spec.fixed)
    base_contrast = spec.fixed.contrast

    def contrast(self, vi, coding):
        v = self.vars[vi]
        if coding == "contr" and not v.ordered:
            L = len(v.levels)
            return np.vstack([np.eye(L - 1), -np.ones((1, L - 1))]), [str(i) for i in range(1, L)]
        return base_contrast(vi, coding)

    design.contrast = types.MethodType(contrast, design)
    frame = fitted_rows(model).reset_index(drop=True)
    ev = _Evaluator(frame, spec.state, fitting=False)
    vals = _encode_new(spec.fixed, [ev.eval(vs.node) for vs in spec.fixed.vars])
    Xs, _, assign = design.build(vals, len(frame))
    return Xs, np.asarray(assign)


def _hypotheses_type3(res, X, assign, nterms):
    """Type III: the hypotheses 'the term's coefficients are zero' under sum-to-zero
    coding, mapped to the model's coding (beta_sum = T beta with X_sum T = X), each
    written with the identity on the term's own columns."""
    got = _sum_coded_X(res)
    if got is None:
        raise ValueError("type III tests need the model's data (fit with pymer.lmer)")
    Xs, assign_s = got
    if res.model.dropped_fixef:
        raise ValueError("type III tests are not available for rank-deficient fixed effects "
                         f"(dropped: {res.model.dropped_fixef}); use type=1 or 2")
    T, *_ = np.linalg.lstsq(Xs, X, rcond=None)
    out = {}
    for t in range(1, nterms + 1):
        L = T[assign_s == t]
        own = assign == t
        if L.shape[0] == 0 or not own.any():
            continue
        B = L[:, own]
        if B.shape[0] == B.shape[1] and np.linalg.matrix_rank(B) == B.shape[0]:
            L = np.linalg.solve(B, L)
        out[t] = L
    return out


def _anova_type(type):
    key = str(type).upper().strip()
    table = {"1": 1, "I": 1, "2": 2, "II": 2, "3": 3, "III": 3}
    if key not in table:
        raise ValueError(f"type={type!r}: use 1, 2 or 3 (or 'I', 'II', 'III')")
    return table[key]


def anova_ddf(res: Any, type: int | str = 3, ddf: str = "Satterthwaite") -> AnovaTable:
    """lmerTest's F-test table for the fixed-effect terms of one linear mixed model.

    Parameters
    ----------
    res : LMMResult
    type : {3, 2, 1} or {"III", "II", "I"}
        SAS's hypothesis types: type I sequential (Doolittle decomposition of
        X'X), type II (each term adjusted for all terms not containing it), type
        III (each term's effect under sum-to-zero coding of the factors,
        independent of the contrasts used to fit).
    ddf : {"Satterthwaite", "Kenward-Roger", "lme4"}
        Kenward-Roger reports the scaled F statistic (Sum Sq and Mean Sq use the
        unscaled F, with the adjusted covariance). "lme4" gives lme4's sequential
        table without denominator df or p-values.

    Returns
    -------
    AnovaTable
        Sum Sq, Mean Sq, NumDF, DenDF, F value, Pr(>F), one row per term.
    """
    method = _ddf_method(ddf)
    _require_lmm(res, "anova(type=..., ddf=...)")
    typ = 1 if method == "lme4" else _anova_type(type)
    model = res.model
    mf = model.mf
    X = model.X
    assign = _kept_assign(model)
    labels = list(mf.term_labels)
    nterms = len(labels)
    if typ == 1:
        Ls = _hypotheses_type1(X, assign, nterms)
    elif typ == 2:
        Ls = _hypotheses_type2(X, assign, _term_structure(mf))
    else:
        Ls = _hypotheses_type3(res, X, assign, nterms)
    rows, index = [], []
    for t in range(1, nterms + 1):
        if t not in Ls or Ls[t].shape[0] == 0:
            continue
        rows.append(_contestMD(res, Ls[t], method))
        index.append(labels[t - 1])
    if method == "lme4":
        cols = ["npar", "Sum Sq", "Mean Sq", "F value"]
        heading = ["Analysis of Variance Table"]
    else:
        cols = ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]
        roman = {1: "I", 2: "II", 3: "III"}[typ]
        meth = "Satterthwaite's" if method == "Satterthwaite" else "Kenward-Roger's"
        heading = [f"Type {roman} Analysis of Variance Table with {meth} method"]
    table = pd.DataFrame(rows, index=pd.Index(index), columns=cols)
    return AnovaTable(table, heading)
