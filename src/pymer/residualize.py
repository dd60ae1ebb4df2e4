"""The response split into its fixed-effects least-squares fit and the residual, as
the LMM's cross-products take it (:func:`residualize_response`), with the solve
factored once for many responses (:func:`least_squares_solver`), for a tall X from its
Gram matrix computed once (:func:`gram_matrix`, :func:`gram_residualize`: the residual
with its cross-products in one compiled pass), and the check that sigma is not
negligible next to that residual's scale (:func:`check_residual_scale`).
"""
from __future__ import annotations

import math

import numpy as np
import scipy.linalg.blas
import scipy.linalg.lapack

from ._core._residual import residual_crossprod

from .errors import PerfectFitWarning, PymerDataError, warn


def least_squares_solver(X, weights=None):
    """The (weighted) least-squares solve of :func:`residualize_response` for one X (p > 0
    columns), factored once: X has full column rank on the weighted rows (aliased
    columns are dropped first), so Householder QR, with Q kept as LAPACK's reflectors
    (dgeqrf, applied by dormqr: forming Q costs as much again); least squares by SVD
    where R has a zero on its diagonal. From GRAM_MIN_ROWS rows, the normal equations
    instead where X is well conditioned (:func:`_gram_solver`).

    Returns
    -------
    solve : callable
        ``solve(scale(y))``: the least-squares coefficients of the weighted rows.
    scale : callable
        Multiplies a vector by sqrt(weights) (the identity without weights).
    full_rank : bool
        Whether R's diagonal has no zero (``solve`` is the QR solve).
    """
    X = np.asarray(X, dtype=np.float64)
    n, p = X.shape
    s = None if weights is None else np.sqrt(np.asarray(weights, dtype=np.float64))
    scale = (lambda v: v) if s is None else (lambda v: v * s if v.ndim == 1 else v * s[:, None])  # noqa: E731
    Xs = scale(X)
    if n >= GRAM_MIN_ROWS:
        gram = _gram_solver(Xs)
        if gram is not None:
            return gram, scale, True
    qr, tau, _work, _info = scipy.linalg.lapack.dgeqrf(np.asfortranarray(Xs))
    # trtrs reads R's upper triangle alone: the reflectors below it need not be zeroed
    Rf = np.array(qr[:p, :p], order="F")
    lwork = max(1, 64 * p)
    if np.abs(np.diagonal(Rf)).min() > 0:
        def solve(v):
            qtv = scipy.linalg.lapack.dormqr("L", "T", qr, tau, v[:, None], lwork)[0]
            return scipy.linalg.lapack.dtrtrs(Rf, qtv[:p, 0])[0]
        return solve, scale, True
    return (lambda v: np.linalg.lstsq(Xs, v, rcond=None)[0]), scale, False    # noqa: E731


# Rows from which the least-squares solve goes through X'X (when X is well conditioned):
# Householder QR of a tall X runs at memory speed, one pass over X per column (InstEval's
# interaction model, 73,421 x 28: 24 ms against 5 for X'X and its Cholesky factor)
GRAM_MIN_ROWS = 10000
# ... and the condition number (of X with columns scaled to unit norm) up to which it
# does: each step of refinement then shrinks the error by ~cond^2 eps <= 1e-8
GRAM_MAX_COND = 1e4


def gram_matrix(X) -> np.ndarray:
    """X'X (symmetric, p x p) by one BLAS syrk on X in its own memory order (no copy):
    half the work of a general product and no temporaries."""
    X = np.asarray(X, dtype=np.float64)
    if X.flags.c_contiguous:
        G = scipy.linalg.blas.dsyrk(1.0, X.T, trans=0, lower=0)
    else:
        G = scipy.linalg.blas.dsyrk(1.0, np.asfortranarray(X), trans=1, lower=0)
    iu = np.triu_indices(G.shape[0], 1)
    G[iu[1], iu[0]] = G[iu]
    return G


def _gram_factor(G):
    """R with R'R = G (upper Cholesky factor) when the columns behind the Gram matrix G,
    scaled to unit norm, have a condition number of at most GRAM_MAX_COND (LAPACK's
    estimate); else None."""
    d = np.sqrt(np.diag(G))
    if not (np.all(d > 0.0) and np.all(np.isfinite(G))):
        return None
    R, info = scipy.linalg.lapack.dpotrf(G, lower=0, clean=1)
    if info != 0:
        return None
    rcond, info = scipy.linalg.lapack.dtrcon(R / d, norm="1", uplo="U")
    if info != 0 or not rcond * GRAM_MAX_COND >= 1.0:
        return None
    return R


def _gram_solve(R, xtv):
    """The solution of R'R b = xtv (the normal equations' right-hand side X'v)."""
    z = scipy.linalg.lapack.dtrtrs(R, xtv, trans=1)[0]
    return scipy.linalg.lapack.dtrtrs(R, z)[0]


def _gram_solver(Xs):
    """The least-squares solve by the normal equations, R'R = Xs'Xs (Cholesky), when Xs is
    well conditioned (:func:`_gram_factor`); else None. With :func:`refined_least_squares`'
    step of refinement its coefficients are as accurate as the QR solve's."""
    R = _gram_factor(Xs.T @ Xs)
    if R is None:
        return None
    return lambda v: _gram_solve(R, Xs.T @ v)     # noqa: E731


def gram_residualize(X, y, weights, G, *, name="response"):
    """:func:`residualize_response` of a tall X (n >= GRAM_MIN_ROWS) from its Gram matrix
    G = X'WX, computed once by the caller (who reuses it as the LMM's X'WX): the normal
    equations with one step of refinement, each residual and its cross-products in one
    compiled pass over the rows. None when G is not well conditioned (then
    :func:`residualize_response` decides).

    Returns
    -------
    (r, beta0, X'Wr, r'Wr), or None
    """
    R = _gram_factor(G)
    if R is None:
        return None
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    w = None if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
    xty = residual_crossprod(X, y, None, w)[1]
    beta0 = _gram_solve(R, xty)
    r, xtr, _ = residual_crossprod(X, y, beta0, w)
    beta0 = beta0 + _gram_solve(R, xtr)
    r, xtr, rtr = residual_crossprod(X, y, beta0, w)
    _check_residual(r, y, weights, name)
    return r, beta0, xtr, rtr


def refined_least_squares(solve_scale, X, y):
    """r = y - X beta0 with beta0 from ``least_squares_solver``'s (solve, scale, ...) and
    one step of iterative refinement: (r, beta0)."""
    solve, scale = solve_scale[0], solve_scale[1]
    beta0 = solve(scale(y))
    r = y - X @ beta0
    beta0 = beta0 + solve(scale(r))
    r = y - X @ beta0
    return r, beta0


def residualize_response(X, y, weights=None, *, name="response"):
    """Split y into X beta0 + r with beta0 the (weighted) least-squares fit.

    The profiled criteria are unchanged when y is replaced by r and beta by
    beta - beta0, and the cross-products of r do not lose digits to
    cancellation when y is large compared with its residual variation
    (y = 1e8 + noise). Raises when r is zero up to rounding: then the residual
    variance is 0 at every theta, the likelihood has no maximum, and no model can
    be fitted (lme4 would report a criterion of -Inf or fail).

    Returns
    -------
    r : ndarray (n,)
    beta0 : ndarray (p,)
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.shape[1] == 0:
        r, beta0 = y.copy(), np.zeros(0)
    else:
        r, beta0 = refined_least_squares(least_squares_solver(X, weights), X, y)
    _check_residual(r, y, weights, name)
    return r, beta0


def _check_residual(r, y, weights, name):
    """residualize_response's errors: a residual whose squares leave double precision, or
    one that is zero up to the rounding of y (a constant response, an exact fit)."""
    s = None if weights is None else np.sqrt(np.asarray(weights, dtype=np.float64))
    rs = r if s is None else r * s
    ys = y if s is None else y * s
    rmax = float(np.max(np.abs(rs))) if r.size else 0.0
    with np.errstate(over="ignore"):
        rr = float(np.dot(rs, rs))
        yy = float(np.dot(ys, ys))
    overflow = not np.isfinite(rr)
    if overflow or 0.0 < rmax < _TINY:
        raise PymerDataError(
            f"response '{name}' varies on a scale (residuals up to {rmax:.3g}) whose squares "
            f"{'overflow' if overflow else 'underflow'} double precision; {_rescale_hint(rmax)}")
    # rounding of y itself is ~eps*|y_i|: a residual within ~1e3 eps of |y| is no residual.
    # The plain norms decide unless they are within a factor 2 of that line (or y's squares
    # leave double precision): then the scaled norms do.
    if not math.sqrt(rr) > 2e3 * _EPS * max(math.sqrt(yy), _TINY_FLOAT):
        ynorm, rnorm = _safe_norm(ys), _safe_norm(rs)
        if rnorm <= 1e3 * _EPS * max(ynorm, _TINY_FLOAT):
            yy = y if weights is None else y[np.asarray(weights) > 0]
            if yy.size and np.ptp(yy) == 0:
                raise PymerDataError(
                    f"response '{name}' is constant (every value is {yy[0]:g}): its residual variance "
                    "is 0, so a linear mixed model cannot be estimated")
            raise PymerDataError(
                f"response '{name}' is fitted exactly by the fixed effects (residual sum of squares 0 "
                "up to rounding): the residual variance is 0 and the likelihood has no maximum, so a "
                "linear mixed model cannot be estimated; check that the response is not computed "
                "from the predictors")


_TINY = 1e-150     # below this, squares (and their sums) lose precision as subnormals
_EPS = float(np.finfo(float).eps)
_TINY_FLOAT = float(np.finfo(float).tiny)


def _safe_norm(v) -> float:
    """Euclidean norm without overflow or underflow."""
    m = float(np.max(np.abs(v))) if np.size(v) else 0.0
    if m == 0.0 or not np.isfinite(m):
        return m
    return m * float(np.linalg.norm(np.asarray(v) / m))


def _rescale_hint(m: float) -> str:
    e = int(round(np.log10(m)))
    return f"rescale it (e.g. divide it by 1e{e})" if e > 0 else f"rescale it (e.g. multiply it by 1e{-e})"


def check_residual_scale(sigma, r, weights=None, *, name="response", tol=1e-6):
    """Warn when sigma is negligible next to the fixed-effects residual scale.

    That happens when fixed and random effects together fit the response
    exactly (e.g. y constant within each group): the likelihood then grows
    without bound as theta grows, so theta and sigma are not estimable.
    """
    r = np.asarray(r, dtype=np.float64)
    if weights is None:
        # unit weights: the same sums without forming them
        npos = max(r.size, 1)
        scale = float(np.sqrt(np.sum(r * r) / npos))
    else:
        w = np.asarray(weights, dtype=np.float64)
        npos = max(int(np.sum(w > 0)), 1)
        scale = float(np.sqrt(np.sum(w * r * r) / npos))
    if not np.isfinite(sigma) or sigma <= tol * scale:
        warn(
            f"residual standard deviation is essentially 0 (sigma = {sigma:.3g}, against "
            f"{scale:.3g} for the fixed effects alone): the fixed and random effects fit "
            f"response '{name}' exactly, so the variance parameters are not estimable",
            PerfectFitWarning)
        return False
    return True
