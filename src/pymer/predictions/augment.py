"""broom.mixed's augment() of a linear mixed model: the model's data with fitted values,
residuals, leverages and Cook's distances."""
from __future__ import annotations

from typing import Any
import numpy as np
import pandas as pd

from .grid import ModelView
from .newdata import model_variables

#: dense hat-matrix diagonal up to this many cells of [Z Lambda, X]
MAX_DENSE = 20_000_000


def hat_values(m: Any) -> np.ndarray:
    """Diagonal of the hat matrix of a linear mixed model (fitted = H y), lme4's hatvalues().

    With A = [Z Lambda, X] sqrt(W) and the penalty I on the spherical random effects,
    h_i = a_i' (A'A + diag(I_q, 0))^-1 a_i.
    """
    re = m.re
    ZL = (re.Z() @ re.Lambda(m.theta)).toarray() if hasattr(re.Z(), "toarray") else re.Z() @ re.Lambda(m.theta)
    X = np.asarray(m.model.X, dtype=np.float64)
    A = np.hstack([np.asarray(ZL), X])
    if A.size > MAX_DENSE:
        raise MemoryError(f"hat values of this model need a dense {A.shape[0]} x {A.shape[1]} "
                          f"matrix ({A.size} cells; the limit is {MAX_DENSE})")
    w = m.model.weights
    if w is not None:
        A = A * np.sqrt(np.asarray(w))[:, None]
    q = re.q
    M = A.T @ A
    M[np.arange(q), np.arange(q)] += 1.0
    B = np.linalg.solve(M, A.T)
    return np.einsum("ij,ji->i", A, B)


def augment(m: Any) -> pd.DataFrame:
    """broom.mixed's ``augment()`` of an lmer fit: the used rows of the model's variables
    plus ``.fitted``, ``.resid``, ``.hat``, ``.cooksd``, ``.fixed``, ``.mu``, ``.offset``,
    ``.sqrtXwt``, ``.sqrtrwt``, ``.weights``, ``.wtres``.

    ``.cooksd`` is r_i^2 h_i / (p sigma^2 (1 - h_i)^2) with the Pearson residual r_i
    and p fixed effects (lme4's cooks.distance).
    """
    if not hasattr(m, "theta") or getattr(m, "family", None) is not None:
        raise TypeError("augment() covers linear mixed models (lmer fits); for GLMMs use "
                        "m.fitted and m.residuals(type=...)")
    view = ModelView(m)
    cols = [view.mf.response_name] if view.mf.response_name in view.data.columns else []
    cols += [c for c in model_variables(view.mf, include_random=True) if c in view.data.columns]
    out = view.data[list(dict.fromkeys(cols))].reset_index(drop=True).copy()
    n = m.nobs
    w = np.ones(n) if m.model.weights is None else np.asarray(m.model.weights, dtype=np.float64)
    fitted = np.asarray(m.fitted)
    resid = np.asarray(m.residuals(type="response"))
    h = hat_values(m)
    pear = resid * np.sqrt(w)
    p = len(m.fixef)
    out[".fitted"] = fitted
    out[".resid"] = resid
    out[".hat"] = h
    out[".cooksd"] = pear ** 2 * h / (p * m.sigma ** 2 * (1 - h) ** 2)
    out[".fixed"] = np.asarray(m.model.X, dtype=np.float64) @ np.asarray(m.beta)
    out[".mu"] = fitted
    off = m.model.offset
    out[".offset"] = np.zeros(n) if off is None else np.asarray(off, dtype=np.float64)
    out[".sqrtXwt"] = np.sqrt(w)
    out[".sqrtrwt"] = np.sqrt(w)
    out[".weights"] = w
    out[".wtres"] = pear
    return out
