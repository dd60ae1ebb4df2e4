"""Contrast matrices for factors, as R's contr.* functions define them.

``contr.treatment`` (indicators of every level but the base), ``contr.SAS``
(treatment with the last level as base), ``contr.sum`` (the last level is minus
the sum of the others), ``contr.helmert`` (each level against the mean of the
levels before it), ``contr.poly`` (orthonormal polynomials in the scores 1..n),
and user matrices. Column names follow R: when the contrast function is given the
levels (model.matrix's ``contrasts.arg``), treatment and SAS columns are named
by their levels; when it is given only the number of levels (``C(f, contr.sum)``)
they are numbered; sum and Helmert columns are always numbered, polynomial ones
are ``.L``, ``.Q``, ``.C``, ``^4``, ...
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..errors import FormulaError

CONTRAST_FUNCTIONS = ("contr.treatment", "contr.SAS", "contr.sum", "contr.helmert", "contr.poly")


def contr_poly(n: int) -> np.ndarray:
    """Orthonormal polynomial contrasts for an ordered factor with `n` levels.

    Column k (k = 1..n-1) holds the degree-k polynomial in the scores 1..n,
    orthogonal to all lower degrees, with unit length and a positive leading
    coefficient: the matrix R's ``contr.poly(n)`` gives.
    """
    if n < 2:
        raise ValueError("contr_poly needs at least 2 levels")
    x = np.arange(1, n + 1, dtype=np.float64)
    x -= x.mean()
    V = np.vander(x, n, increasing=True)
    Q, R = np.linalg.qr(V)
    Q = Q * np.sign(np.diag(R))
    Q = Q[:, 1:]
    return Q / np.sqrt((Q * Q).sum(axis=0))


def poly_names(n: int) -> list[str]:
    """R's names of the columns of contr.poly(n): .L, .Q, .C, ^4, ..."""
    base = [".L", ".Q", ".C"]
    return [base[k] if k < 3 else f"^{k + 1}" for k in range(n - 1)]


def contr_treatment(n: int, base: int = 1) -> np.ndarray:
    """Indicators of every level but level `base` (1-based), R's contr.treatment."""
    return np.delete(np.eye(n), base - 1, axis=1)


def contr_sum(n: int) -> np.ndarray:
    """R's contr.sum: identity over the first n-1 levels, -1 on the last."""
    return np.vstack([np.eye(n - 1), -np.ones((1, n - 1))])


def contr_helmert(n: int) -> np.ndarray:
    """R's contr.helmert: column j has -1 on levels 1..j, j on level j+1, 0 after."""
    C = np.zeros((n, n - 1))
    for j in range(1, n):
        C[:j, j - 1] = -1.0
        C[j, j - 1] = float(j)
    return C


_SPEC = re.compile(r"^\s*(contr\.\w+)\s*(?:\(\s*(?:base\s*=\s*)?(\d+)\s*\))?\s*$")


def contrast_matrix(spec, levels: list[str], what: str, by_levels: bool = True
                    ) -> tuple[np.ndarray, list[str]]:
    """The contrast matrix and R's column-name suffixes for a factor with `levels`.

    Parameters
    ----------
    spec : str or array-like or DataFrame
        ``"contr.sum"``, ``"contr.helmert"``, ``"contr.poly"``, ``"contr.treatment"``,
        ``"contr.treatment(base=2)"``, ``"contr.SAS"``, or a matrix with one row per level
        (a DataFrame's column labels name its columns, else they are numbered).
    levels : list of str
    what : str
        The factor's name, for messages.
    by_levels : bool
        Whether the contrast function sees the levels (R's ``contrasts.arg``) or only
        their number (``C(f, contr.treatment)``): this changes treatment's names.
    """
    n = len(levels)
    if n < 2:
        raise FormulaError(f"contrasts can be applied only to factors with 2 or more levels: "
                           f"'{what}' has {n}")
    if isinstance(spec, str):
        m = _SPEC.match(spec)
        name = m.group(1) if m else spec
        if not m or name not in CONTRAST_FUNCTIONS or (m.group(2) and name != "contr.treatment"):
            raise FormulaError(
                f"unknown contrasts {spec!r} for '{what}'; use one of {', '.join(CONTRAST_FUNCTIONS)}, "
                "'contr.treatment(base=k)' or a matrix with one row per level")
        if name == "contr.poly":
            return contr_poly(n), poly_names(n)
        if name in ("contr.sum", "contr.helmert"):
            C = contr_sum(n) if name == "contr.sum" else contr_helmert(n)
            return C, [str(k) for k in range(1, n)]
        base = n if name == "contr.SAS" else int(m.group(2) or 1)
        if not 1 <= base <= n:
            raise FormulaError(f"contrasts {spec!r} for '{what}': base must be between 1 and {n}")
        names = list(levels) if by_levels else [str(k) for k in range(1, n + 1)]
        if name == "contr.SAS" and not by_levels:
            names = [str(k) for k in range(1, n)] + [""]
        del names[base - 1]
        return contr_treatment(n, base), names
    cols = None
    if isinstance(spec, pd.DataFrame):
        if not isinstance(spec.columns, pd.RangeIndex):
            cols = [str(c) for c in spec.columns]
        spec = spec.to_numpy()
    try:
        C = np.array(spec, dtype=np.float64)
    except (TypeError, ValueError):
        raise FormulaError(f"contrasts for '{what}' must be a contr.* name or a numeric matrix, "
                           f"not {type(spec).__name__}") from None
    if C.ndim == 1:
        C = C[:, None]
    if C.ndim != 2 or C.shape[0] != n or not 1 <= C.shape[1] <= n - 1:
        raise FormulaError(f"the contrast matrix for '{what}' has shape {C.shape}; it needs one row "
                           f"per level ({n}) and {n - 1} columns")
    if C.shape[1] < n - 1:
        raise FormulaError(f"the contrast matrix for '{what}' has {C.shape[1]} columns; pymer needs "
                           f"all {n - 1} (R would complete it)")
    if not np.isfinite(C).all():
        raise FormulaError(f"the contrast matrix for '{what}' has missing or infinite values")
    return C, cols or [str(k) for k in range(1, C.shape[1] + 1)]
