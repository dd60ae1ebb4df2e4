"""Linear quantile regression by linear programming (SciPy's HiGHS), and its rank-score test."""
from __future__ import annotations

import numpy as np
from scipy import optimize, sparse, stats


def rq(X, y, tau: float) -> np.ndarray:
    """Coefficients of the linear quantile regression of y on X at quantile tau.

    Koenker and Bassett's (1978) estimator: minimize sum_i rho_tau(y_i - x_i'beta)
    with rho_tau(r) = r (tau - 1{r < 0}), written as the linear program
    min tau 1'u+ + (1 - tau) 1'u-  subject to  X beta + u+ - u- = y,  u+, u- >= 0.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, p = X.shape
    c = np.concatenate([np.zeros(p), np.full(n, tau), np.full(n, 1.0 - tau)])
    eye = sparse.identity(n, format="csr")
    A = sparse.hstack([sparse.csr_matrix(X), eye, -eye], format="csr")
    bounds = [(None, None)] * p + [(0, None)] * (2 * n)
    res = optimize.linprog(c, A_eq=A, b_eq=y, bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"quantile regression at tau = {tau} failed: {res.message}")
    return res.x[:p]


def rank_score_test(X, y, tau: float, beta0) -> tuple[float, float]:
    """Score test of H0: the tau-quantile of y given x is x'beta0 (fully specified).

    Under H0 the indicators 1{y_i < x_i'beta0} are independent Bernoulli(tau) (y
    continuous), so S = X'(tau - 1{y < X beta0}) has mean 0 and covariance
    tau (1 - tau) X'X; S'(X'X)^-1 S / (tau (1 - tau)) is referred to chi-square
    with p degrees of freedom (Koenker 2005, section 3.5). Returns (statistic, p-value).
    """
    X = np.asarray(X, dtype=np.float64)
    psi = tau - (np.asarray(y, dtype=np.float64) < X @ np.asarray(beta0, dtype=np.float64))
    S = X.T @ psi
    stat = float(S @ np.linalg.solve(X.T @ X, S) / (tau * (1.0 - tau)))
    return stat, float(stats.chi2.sf(stat, X.shape[1]))
