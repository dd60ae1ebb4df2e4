"""Checks of a model's inputs, with lme4's messages where lme4 has one."""
from __future__ import annotations

import warnings

import numpy as np

from .errors import PymerDataError


class RankDeficiencyWarning(UserWarning):
    """Aliased fixed-effect columns were dropped, as lme4 drops them."""


def check_response_numeric(mf):
    if getattr(mf, "response_levels", None) is not None:
        raise PymerDataError(
            f"response '{mf.response_name}' is a factor (levels {list(mf.response_levels)[:4]}); "
            "a linear mixed model needs a numeric response")
    y = np.asarray(mf.y)
    if y.ndim != 1:
        raise PymerDataError(f"response '{mf.response_name}' must be a single numeric column for lmer")


def check_weights(weights, n):
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise PymerDataError(f"weights must have one value per observation ({n}), got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise PymerDataError("weights contain non-finite values")
    if np.any(w < 0):
        raise PymerDataError(f"negative weights not allowed (first at row {int(np.argmax(w < 0))})")
    return w


def check_grouping_factors(re, n, lmm=True):
    """lme4's checks: each grouping factor needs > 1 sampled level, and (LMMs) < nobs levels."""
    for t in re.terms:
        if t.nlev < 2:
            raise PymerDataError(
                f"grouping factors must have > 1 sampled level (problem: '{t.group}' has {t.nlev})")
    if lmm:
        bad = [t.group for t in re.terms if t.nlev >= n]
        if bad:
            raise PymerDataError(
                "number of levels of each grouping factor must be < number of observations "
                f"(problems: {', '.join(dict.fromkeys(bad))})")
        bad = [t.group for t in re.terms if t.nlev * t.k > n]
        if bad:
            raise PymerDataError(
                "number of observations (={}) < number of random effects for term(s) {}; "
                "the random-effects parameters are probably unidentifiable".format(n, ", ".join(bad)))


def drop_aliased_columns(X, names, tol=1e-7):
    """Keep the columns of X that are not linear combinations of earlier ones.

    Like R's pivoted QR with limited pivoting (dqrdc2), columns are examined in
    order and a column whose residual after projection on the kept ones is
    below tol (relative to its norm) is dropped. Returns (kept indices, dropped names).
    """
    X = np.asarray(X, dtype=np.float64)
    n, p = X.shape
    keep = []
    Q = np.zeros((n, 0))
    for j in range(p):
        col = X[:, j]
        nrm = np.linalg.norm(col)
        if nrm == 0.0:
            continue
        r = col - Q @ (Q.T @ col)
        r = r - Q @ (Q.T @ r)      # re-orthogonalize
        rn = np.linalg.norm(r)
        if rn / nrm < tol:
            continue
        keep.append(j)
        Q = np.column_stack([Q, r / rn])
    dropped = [names[j] for j in range(p) if j not in keep]
    if dropped:
        k = len(dropped)
        warnings.warn(
            f"fixed-effect model matrix is rank deficient so dropping {k} column{'s' if k > 1 else ''}"
            f" / coefficient{'s' if k > 1 else ''} ({', '.join(dropped)})",
            RankDeficiencyWarning, stacklevel=4)
    return keep, dropped
