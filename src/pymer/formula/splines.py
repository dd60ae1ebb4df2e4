"""Basis matrices of R's poly(), splines::bs() and splines::ns(), kept for new data.

Each basis is built once from the fitted data and returns, with the matrix, what
new data need to get the same basis (R's ``predvars``): the centring and norms of
the orthogonal polynomials, the knots of the splines.

- ``poly(x, degree)``: the monic polynomials orthogonal on the observed x (Gram-Schmidt
  of 1, x, x^2, ... by QR), scaled to unit length, without the constant. New x follow the
  three-term recurrence p_{k+1} = (x - alpha_k) p_k - (n_k / n_{k-1}) p_{k-1}, with
  alpha_k = sum(x p_k^2) / n_k and n_k = sum(p_k^2) from the fit (R's ``coefs``).
- ``bs()``: the B-spline basis of order degree+1 on the knots (boundary knots repeated),
  without the first function unless ``intercept``; interior knots at quantiles of x when
  only ``df`` is given (``?bs``); beyond the boundary the end polynomial pieces continue.
- ``ns()``: the natural cubic splines, the cubic B-splines projected onto the space with
  zero second derivative at both boundary knots (the complement of the constraint's row
  space, from its Householder QR); linear beyond the boundary knots (``?ns``).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import FormulaError


def poly_check(has_missing: bool, n_unique: int, degree: int, what: str) -> None:
    """R's poly()'s refusals: missing values, degree < 1, degree >= the number of unique
    points (`n_unique` may be capped at degree + 1)."""
    if has_missing:
        raise FormulaError(f"missing values are not allowed in '{what}' (R's poly() refuses them)")
    if degree < 1:
        raise FormulaError(f"'degree' must be at least 1 in '{what}'")
    if degree >= n_unique:
        raise FormulaError(f"'degree' must be less than the number of unique points "
                           f"({n_unique}) in '{what}'")


def poly_basis(x: np.ndarray, degree: int, what: str) -> tuple[np.ndarray, dict]:
    """Orthogonal polynomial basis (n, degree) of x and the coefficients for new data."""
    has_missing = bool(np.isnan(x).any())
    poly_check(has_missing, 0 if has_missing else np.unique(x).size, degree, what)
    xbar = float(x.mean())
    xc = x - xbar
    V = np.vander(xc, degree + 1, increasing=True)
    Q, R = np.linalg.qr(V)
    Z = Q * np.diag(R)                       # monic orthogonal polynomials p_0..p_degree
    norm2 = (Z * Z).sum(axis=0)
    alpha = (xc[:, None] * Z * Z).sum(axis=0) / norm2 + xbar
    coefs = {"alpha": alpha[:degree], "norm2": np.concatenate([[1.0], norm2])}
    return Z[:, 1:] / np.sqrt(norm2[1:]), coefs


def poly_monic(x: np.ndarray, alpha: np.ndarray, norm2: np.ndarray) -> np.ndarray:
    """The monic orthogonal polynomials p_0..p_k at x, (n, k + 1), k = len(alpha), by the
    three-term recurrence from alpha (k) and norm2 (k + 1: 1, n, ||p_1||^2, ...)."""
    degree = alpha.size
    Z = np.empty((x.size, degree + 1))
    Z[:, 0] = 1.0
    if degree:
        Z[:, 1] = x - alpha[0]
    for i in range(1, degree):
        Z[:, i + 1] = (x - alpha[i]) * Z[:, i] - (norm2[i + 1] / norm2[i]) * Z[:, i - 1]
    return Z


def poly_predict(x: np.ndarray, coefs: dict) -> np.ndarray:
    """The fitted orthogonal polynomial basis at new x (three-term recurrence)."""
    alpha, norm2 = coefs["alpha"], coefs["norm2"]
    return poly_monic(x, alpha, norm2[:alpha.size + 1])[:, 1:] / np.sqrt(norm2[2:])


def poly_raw(x: np.ndarray, degree: int, what: str) -> np.ndarray:
    """x, x^2, ..., x^degree (poly(x, degree, raw = TRUE))."""
    if degree < 1:
        raise FormulaError(f"'degree' must be at least 1 in '{what}'")
    return x[:, None] ** np.arange(1, degree + 1)


def spline_knots(x: np.ndarray, kind: str, df, knots, degree: int, intercept: bool,
                 boundary, what: str) -> dict:
    """The knots of bs()/ns() from the fitted x, as ?bs and ?ns define them
    (:func:`spline_rule` on x's non-missing values)."""
    ok = x[~np.isnan(x)]

    def value_range() -> tuple[float, float] | None:
        return (float(ok.min()), float(ok.max())) if ok.size else None

    def quantiles(lo: float, hi: float, probs: np.ndarray) -> np.ndarray:
        inside = ok[(ok >= lo) & (ok <= hi)]
        if not inside.size:
            raise FormulaError(f"'{what}' has no values inside its Boundary.knots")
        return np.quantile(inside, probs)

    return spline_rule(kind, df, knots, degree, intercept, boundary, what, value_range, quantiles)


def spline_rule(kind: str, df, knots, degree: int, intercept: bool, boundary, what: str,
                value_range: Callable[[], tuple[float, float] | None],
                quantiles: Callable[[float, float, np.ndarray], np.ndarray]) -> dict:
    """The knots of bs()/ns() as ?bs and ?ns define them, from two views of the fitted x:
    ``value_range()``, (min, max) of its non-missing values (None when there are none),
    for the default boundary knots, and ``quantiles(lo, hi, probs)``, R's type 7
    quantiles of its non-missing values in [lo, hi], for the interior knots of ``df``
    (in memory: numpy on x; on a Dask DataFrame: exact order statistics from passes)."""
    if boundary is None:
        rng = value_range()
        if rng is None:
            raise FormulaError(f"'{what}' has no non-missing values")
        boundary = rng
    else:
        boundary = tuple(float(b) for b in np.atleast_1d(boundary))
        if len(boundary) != 2 or not boundary[0] < boundary[1]:
            raise FormulaError(f"Boundary.knots must be two increasing numbers in '{what}'")
    if knots is None:
        n_inner = 0
        if df is not None:
            # ?bs: df - degree - intercept interior knots; ?ns: df - 1 - intercept
            n_inner = int(df) - (1 if kind == "ns" else int(degree)) - int(intercept)
            if n_inner < 0:
                least = (1 if kind == "ns" else degree) + int(intercept)
                raise FormulaError(f"'df' is too small in '{what}': it must be at least {least}")
        probs = np.linspace(0.0, 1.0, n_inner + 2)[1:-1]
        knots = quantiles(boundary[0], boundary[1], probs) if n_inner else np.empty(0)
    knots = np.sort(np.atleast_1d(np.asarray(knots, dtype=np.float64)))
    if knots.size and (knots.min() <= boundary[0] or knots.max() >= boundary[1]):
        raise FormulaError(f"interior knots must lie strictly inside the boundary knots in '{what}'")
    return {"kind": kind, "knots": knots, "boundary": boundary,
            "degree": 3 if kind == "ns" else int(degree), "intercept": bool(intercept)}


def _bspline_basis(x: np.ndarray, t: np.ndarray, k: int, nu: int = 0) -> np.ndarray:
    from scipy.interpolate import BSpline      # here: scipy.interpolate imports scipy.optimize
    nb = t.size - k - 1
    return np.column_stack([BSpline(t, np.eye(nb)[j], k, extrapolate=True)(x, nu)
                            for j in range(nb)]) if x.size else np.empty((0, nb))


def spline_basis(x: np.ndarray, spec: dict) -> np.ndarray:
    """The bs()/ns() basis of `spec` at x (NaN rows stay NaN)."""
    k = spec["degree"]
    lo, hi = spec["boundary"]
    t = np.concatenate([[lo] * (k + 1), spec["knots"], [hi] * (k + 1)])
    first = 0 if spec["intercept"] else 1
    ncol = t.size - k - 1 - first - (2 if spec["kind"] == "ns" else 0)
    out = np.full((x.size, ncol), np.nan)
    ok = ~np.isnan(x)
    xv = x[ok]
    if spec["kind"] == "bs":
        B = _bspline_basis(xv, t, k)
        # the last B-spline is 1 at the right boundary knot (SciPy's last interval is open)
        B[xv == hi] = np.eye(B.shape[1])[-1]
        out[ok] = B[:, first:]
        return out
    ends = np.array([lo, hi])
    const = _bspline_basis(ends, t, 3, nu=2)[:, first:]
    Q = np.linalg.qr(const.T, mode="complete")[0][:, 2:]
    xin = np.clip(xv, lo, hi)
    B = _bspline_basis(xin, t, 3)
    B[xin == hi] = np.eye(B.shape[1])[-1]
    N = B[:, first:] @ Q
    slope = _bspline_basis(ends, t, 3, nu=1)[:, first:] @ Q
    below, above = xv < lo, xv > hi
    N[below] += (xv[below] - lo)[:, None] * slope[0]
    N[above] += (xv[above] - hi)[:, None] * slope[1]
    out[ok] = N
    return out
