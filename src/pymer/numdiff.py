"""Finite-difference derivatives: the one place pymer differentiates numerically.

- :func:`finite_diff_derivs`: gradient and Hessian by central differences (one-sided at a
  lower bound), for lme4's convergence checks and the glmer covariance of (theta, beta).
- :func:`richardson_jacobian`, :func:`richardson_hessian`: central differences refined by
  Richardson extrapolation, for Satterthwaite's degrees of freedom (the Jacobian of
  Var(beta-hat) and the Hessian of the REML criterion in the variance parameters).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["finite_diff_derivs", "richardson_jacobian", "richardson_hessian"]

_EPS = np.finfo(float).eps


def finite_diff_derivs(fun, x, lower=None, delta: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and Hessian of `fun` at x by central differences, one-sided in a
    coordinate whose lower bound is within the step (never evaluated below `lower`;
    without bounds, as for a deviance in theta that is defined beyond the box).

    Second differences on the diagonal; for each pair away from the bounds only
    f(x+di+dj) and f(x-di-dj) are new, with

        H_ij = [f(x+di+dj) + f(x-di-dj) - f(x+di) - f(x-di) - f(x+dj) - f(x-dj) + 2 f(x)] / (2 h^2)

    (error O(h^2), as lme4's four-point formula, with half its evaluations).
    """
    x = np.asarray(x, dtype=np.float64)
    m = x.shape[0]
    lower = np.full(m, -np.inf) if lower is None else np.asarray(lower)
    h = delta
    at_bound = x - h < lower
    f0 = fun(x)
    grad = np.zeros(m)
    hess = np.zeros((m, m))
    fp = np.zeros(m)
    fm = np.full(m, np.nan)
    for i in range(m):
        e = np.zeros(m)
        e[i] = h
        fp[i] = fun(x + e)
        if at_bound[i]:
            # forward differences at the lower bound
            fpp = fun(x + 2 * e)
            grad[i] = (-3 * f0 + 4 * fp[i] - fpp) / (2 * h)
            hess[i, i] = (f0 - 2 * fp[i] + fpp) / h ** 2
        else:
            fm[i] = fun(x - e)
            grad[i] = (fp[i] - fm[i]) / (2 * h)
            hess[i, i] = (fp[i] - 2 * f0 + fm[i]) / h ** 2
    for i in range(m):
        for j in range(i):
            e = np.zeros(m)
            e[i] = e[j] = h
            if at_bound[i] or at_bound[j]:
                v = (fun(x + e) - fp[i] - fp[j] + f0) / (h * h)
            else:
                v = (fun(x + e) + fun(x - e) - fp[i] - fm[i] - fp[j] - fm[j] + 2 * f0) / (2 * h * h)
            hess[i, j] = hess[j, i] = v
    return grad, hess


def _fd_steps(x, d):
    """Base steps: d |x|, or 1e-4 where |x| is tiny (numerical-derivative convention)."""
    x = np.asarray(x, dtype=np.float64)
    zero_tol = math.sqrt(_EPS / 7e-7)
    return np.where(np.abs(x) < zero_tol, 1e-4, d * np.abs(x))


def richardson_jacobian(f, x, d: float = 1e-4, r: int = 4, v: float = 2.0) -> np.ndarray:
    """Jacobian of an array-valued f at x: central differences at steps h, h/v, ...,
    combined by Richardson extrapolation. Returns shape f(x).shape + (len(x),)."""
    x = np.asarray(x, dtype=np.float64)
    h0 = _fd_steps(x, d)
    f0 = np.asarray(f(x), dtype=np.float64)
    out = np.empty(f0.shape + (x.size,))
    for i in range(x.size):
        A = []
        for kk in range(r):
            h = h0[i] / v ** kk
            e = np.zeros_like(x)
            e[i] = h
            A.append((np.asarray(f(x + e), dtype=np.float64) - np.asarray(f(x - e), dtype=np.float64)) / (2 * h))
        for m in range(1, r):
            A = [(v ** (2 * m) * A[kk + 1] - A[kk]) / (v ** (2 * m) - 1) for kk in range(len(A) - 1)]
        out[..., i] = A[0]
    return out


def richardson_hessian(f, x, d: float = 0.1, r: int = 4, v: float = 2.0) -> np.ndarray:
    """Hessian of a scalar f at x by central second differences and Richardson
    extrapolation (relative base step d, as numerical-derivative packages use)."""
    x = np.asarray(x, dtype=np.float64)
    m = x.size
    h0 = _fd_steps(x, d)
    f0 = float(f(x))
    H = np.empty((m, m))
    for i in range(m):
        for j in range(i + 1):
            A = []
            for kk in range(r):
                hi, hj = h0[i] / v ** kk, h0[j] / v ** kk
                ei = np.zeros(m)
                ei[i] = hi
                if i == j:
                    A.append((f(x + ei) - 2 * f0 + f(x - ei)) / hi ** 2)
                else:
                    ej = np.zeros(m)
                    ej[j] = hj
                    A.append((f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej))
                             / (4 * hi * hj))
            for mm in range(1, r):
                A = [(v ** (2 * mm) * A[kk + 1] - A[kk]) / (v ** (2 * mm) - 1) for kk in range(len(A) - 1)]
            H[i, j] = H[j, i] = A[0]
    return H
