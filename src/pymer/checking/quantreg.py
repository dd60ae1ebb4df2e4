"""Linear quantile regression by linear programming (SciPy's HiGHS), and its rank-score test."""
from __future__ import annotations

import numpy as np
from scipy import optimize, stats


def rq(X, y, tau: float) -> np.ndarray:
    """Coefficients of the linear quantile regression of y on X at quantile tau.

    Koenker and Bassett's (1978) estimator, minimizing sum_i rho_tau(y_i - x_i'beta)
    with rho_tau(r) = r (tau - 1{r < 0}). Solved as its dual linear program (Koenker
    2005, section 6.2): maximize y'a subject to X'a = (1 - tau) X'1, 0 <= a <= 1,
    which has only p equality constraints; beta is the vector of their multipliers.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    res = optimize.linprog(-y, A_eq=X.T, b_eq=(1.0 - tau) * X.sum(axis=0), bounds=(0.0, 1.0),
                           method="highs")
    if res.status != 0:
        raise RuntimeError(f"quantile regression at tau = {tau} failed: {res.message}")
    return -np.asarray(res.eqlin.marginals, dtype=np.float64)


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
