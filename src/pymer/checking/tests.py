"""The residual tests of DHARMa's method, on arrays: uniformity, dispersion, zero inflation,
outliers, quantiles, categorical predictors, temporal and spatial autocorrelation.

Each returns an :class:`~pymer.checking.htest.HTest`. Implemented from the published
descriptions (Hartig's DHARMa documentation; Durbin and Watson 1950; Imhof 1961;
Moran 1950; Koenker 2005), with R's ks.test, binom.test, lmtest's dwtest and ape's
Moran.I as the referee.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import integrate, stats

from .htest import HTest, check_alternative, simulation_p_value
from .quantreg import rank_score_test, rq

_KS_NAMES = {"two.sided": "D", "greater": "D^+", "less": "D^-"}


def uniformity(residuals, alternative="two.sided") -> HTest:
    """One-sample Kolmogorov-Smirnov test of the residuals against U(0, 1).

    As R's ks.test: the exact distribution for fewer than 100 residuals without
    ties, the asymptotic one otherwise. "greater" tests whether the residuals' CDF
    lies above the uniform one (R's alternative).
    """
    check_alternative(alternative)
    r = np.asarray(residuals, dtype=np.float64)
    n = r.size
    exact = n < 100 and np.unique(r).size == n
    # scipy's "greater"/"less" name the CDF of the data relative to the null, as R does
    res = stats.kstest(r, "uniform", alternative=alternative.replace(".", "-"),
                       method="exact" if exact else "asymp")
    if not exact and alternative != "two.sided":
        # R's asymptotic one-sided p-value: exp(-2 n D^2)
        p = float(np.exp(-2.0 * n * res.statistic ** 2))
    else:
        p = float(res.pvalue)
    kind = "Exact" if exact else "Asymptotic"
    return HTest(float(res.statistic), min(1.0, p), alternative,
                 f"{kind} one-sample Kolmogorov-Smirnov test", statistic_name=_KS_NAMES[alternative])


def dispersion(observed, simulated, center, alternative="two.sided") -> HTest:
    """Simulation-based dispersion test: the variance of the observed raw residuals
    var(observed - center) against the variances var(simulated_j - center) of the
    simulations; the statistic is their ratio to the simulations' mean."""
    check_alternative(alternative)
    obs = float(np.var(np.asarray(observed) - center, ddof=1))
    sims = np.var(np.asarray(simulated) - np.asarray(center)[:, None], axis=0, ddof=1)
    return _ratio_test(obs, sims, alternative, "dispersion",
                       "Simulation-based dispersion test: variance of the residuals, fitted vs. simulated")


def dispersion_pearson(observed_ss: float, simulated_ss, alternative="two.sided") -> HTest:
    """Dispersion test of a parametric bootstrap: the sum of squared Pearson residuals
    of the fit against those of the refits to simulated responses."""
    check_alternative(alternative)
    return _ratio_test(float(observed_ss), np.asarray(simulated_ss, dtype=np.float64), alternative,
                       "dispersion", "Parametric bootstrap dispersion test: sum of squared Pearson "
                       "residuals, fit vs. refits")


def zero_inflation(observed, simulated, alternative="two.sided") -> HTest:
    """Number of zeros in the observed response against its simulated distribution."""
    check_alternative(alternative)
    obs = float(np.sum(np.asarray(observed) == 0))
    sims = np.sum(np.asarray(simulated) == 0, axis=0).astype(np.float64)
    return _ratio_test(obs, sims, alternative, "ratioObsSim",
                       "Simulation-based test for zero inflation: observed vs. simulated zeros")


def _ratio_test(obs, sims, alternative, name, method) -> HTest:
    mean = float(np.mean(sims))
    if mean == 0.0:
        ratio = 1.0 if obs == 0.0 else np.inf
    else:
        ratio = obs / mean
    return HTest(ratio, simulation_p_value(obs, sims, alternative), alternative, method, statistic_name=name)


def _margin_counts(residuals, margin):
    r = np.asarray(residuals)
    lower, upper = int(np.sum(r == 0.0)), int(np.sum(r == 1.0))
    return {"both": lower + upper, "lower": lower, "upper": upper}[margin]


def outliers(residuals, n_sim: int, *, margin="both", alternative="two.sided", type="binomial",
             simulated=None) -> HTest:
    """Test the number of simulation outliers: observations outside the simulated range
    (residual exactly 0 or 1).

    type="binomial": for a continuous response each margin holds an outlier with
    probability 1/(n_sim + 1), so the count is binomial (R's binom.test).
    type="bootstrap": for discrete responses (ties make the binomial expectation too
    high), the null distribution of the outlier frequency is taken from the
    simulations themselves: each simulated response in turn is treated as observed and
    compared with the other n_sim - 1 (its frequency rescaled by n_sim / (n_sim + 1) to
    the reference size of the observed data).
    """
    check_alternative(alternative)
    if margin not in ("both", "lower", "upper"):
        raise ValueError(f"margin must be 'both', 'lower' or 'upper', not {margin!r}")
    r = np.asarray(residuals)
    n = r.size
    k = _margin_counts(r, margin)
    sides = 2 if margin == "both" else 1
    expected = sides / (n_sim + 1)
    stat_name = f"outliers at {margin} margin(s)"
    if type == "binomial":
        res = stats.binomtest(k, n, expected, alternative=alternative.replace(".", "-"))
        return HTest(float(k), float(res.pvalue), alternative,
                     f"Exact binomial test of the simulation outliers (expected frequency {expected:.6g})",
                     statistic_name=stat_name, parameter={"observations": n},
                     estimate={"frequency of outliers": k / n},
                     null_value={"frequency of outliers": expected})
    if type != "bootstrap":
        raise ValueError(f"type must be 'binomial' or 'bootstrap', not {type!r}")
    if simulated is None:
        raise ValueError("the bootstrap outlier test needs the simulated responses")
    boot = leave_one_out_outliers(simulated, margin) / n * n_sim / (n_sim + 1)
    p = simulation_p_value(k / n, boot, alternative)
    return HTest(float(k), p, alternative,
                 "Bootstrap test of the simulation outliers (each simulation against the others)",
                 statistic_name=stat_name, parameter={"observations": n},
                 estimate={"frequency of outliers": k / n, "expected frequency": float(np.mean(boot))})


def leave_one_out_outliers(simulated, margin="both") -> np.ndarray:
    """For each simulation j, the number of rows where it lies strictly outside the
    range of the other simulations (above their maximum, below their minimum)."""
    S = np.asarray(simulated, dtype=np.float64)
    if S.shape[1] < 3:
        raise ValueError("the bootstrap outlier test needs at least 3 simulations")
    part = np.partition(S, (0, 1, S.shape[1] - 2, S.shape[1] - 1), axis=1)
    lo1, lo2, hi2, hi1 = part[:, 0], part[:, 1], part[:, -2], part[:, -1]
    counts = np.zeros(S.shape[1])
    if margin in ("both", "upper"):
        counts += np.sum((S == hi1[:, None]) & (hi1 > hi2)[:, None], axis=0)
    if margin in ("both", "lower"):
        counts += np.sum((S == lo1[:, None]) & (lo1 < lo2)[:, None], axis=0)
    return counts


def quantiles(residuals, predictor, quantiles=(0.25, 0.5, 0.75)) -> HTest:
    """Do the quantiles of the residuals depend on the predictor?

    A linear quantile regression of the residuals on the predictor (already on the
    scale to use, e.g. rank-transformed to [0, 1]) at each quantile tau; under the
    model the residuals are U(0, 1) whatever the predictor, so each tau-quantile
    line is the constant tau. Each is tested with the rank-score test of that fully
    specified line (chi-square, 2 df; 1 df for a constant predictor); the p-values are combined as the smallest
    Benjamini-Hochberg adjusted one (DHARMa's combination; it fits smooth qgam
    curves where this fits straight lines).
    """
    r = np.asarray(residuals, dtype=np.float64)
    x = np.asarray(predictor, dtype=np.float64)
    # a constant predictor (no slope to fit): the intercepts alone
    X = np.column_stack([np.ones_like(x), x]) if np.ptp(x) > 0 else np.ones((x.size, 1))
    rows = []
    for tau in quantiles:
        beta = np.append(rq(X, r, tau), 0.0)[:2]
        stat, p = rank_score_test(X, r, tau, [tau, 0.0][:X.shape[1]])
        rows.append((tau, beta[0], beta[1], stat, p))
    tab = pd.DataFrame(rows, columns=["quantile", "intercept", "slope", "statistic", "p_value"])
    tab["p_adjusted"] = stats.false_discovery_control(tab["p_value"].to_numpy(), method="bh")
    p = float(tab["p_adjusted"].min())
    return HTest(float(tab["statistic"].max()), p, "two.sided",
                 "Test for location of quantiles via quantile regression (rank-score tests, "
                 "Benjamini-Hochberg combined)", statistic_name="max chi-square",
                 table=tab.set_index("quantile"))


def categorical(residuals, codes, levels) -> HTest:
    """Residuals against a categorical predictor: within each level a KS test of
    uniformity (Holm-adjusted, in ``.table``), between levels Levene's test of equal
    variances (centered at the median, as car's leveneTest), which is the statistic
    and p-value of the result."""
    r = np.asarray(residuals, dtype=np.float64)
    groups = [r[codes == k] for k in range(len(levels))]
    rows = []
    for lev, g in zip(levels, groups):
        ks = uniformity(g) if g.size else None
        rows.append((lev, g.size, np.nan if ks is None else ks.statistic, np.nan if ks is None else ks.p_value))
    tab = pd.DataFrame(rows, columns=["level", "n", "D", "p_value"]).set_index("level")
    ok = tab["p_value"].notna().to_numpy()
    adj = np.full(len(tab), np.nan)
    adj[ok] = _holm(tab["p_value"].to_numpy()[ok])
    tab["p_adjusted"] = adj
    lev = stats.levene(*[g for g in groups if g.size], center="median")
    return HTest(float(lev.statistic), float(lev.pvalue), "two.sided",
                 "Levene's test for homogeneity of the residual variance across levels "
                 "(within-level KS tests in .table)", statistic_name="F",
                 parameter={"df1": len([g for g in groups if g.size]) - 1,
                            "df2": int(sum(g.size for g in groups)) - len([g for g in groups if g.size])},
                 table=tab)


def _holm(p):
    p = np.asarray(p, dtype=np.float64)
    m = p.size
    order = np.argsort(p)
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out


def durbin_watson(residuals, alternative="two.sided") -> HTest:
    """Durbin-Watson test of residuals in time order, against an intercept-only model.

    DW = sum(diff(e)^2) / sum(e^2) with e the centered residuals. Under normal
    errors DW is a ratio of quadratic forms whose eigenvalues are those of the
    path graph's Laplacian, 2 - 2 cos(pi j / n), j = 1..n-1; as lmtest's dwtest,
    the p-value is exact for n < 100 (Imhof's integral), and from the normal
    distribution with DW's exact mean and variance otherwise. "greater" is positive
    autocorrelation (small DW).
    """
    check_alternative(alternative)
    r = np.asarray(residuals, dtype=np.float64)
    n = r.size
    if n < 3:
        raise ValueError(f"the Durbin-Watson test needs at least 3 residuals, not {n}")
    e = r - r.mean()
    dw = float(np.sum(np.diff(e) ** 2) / np.sum(e ** 2))
    nu = 2.0 - 2.0 * np.cos(np.pi * np.arange(1, n) / n)
    if n < 100:
        p_below = _imhof_below(nu - dw)
    else:
        m = n - 1
        mean = nu.sum() / m
        var = 2.0 * (m * np.sum(nu ** 2) - nu.sum() ** 2) / (m ** 2 * (m + 2))
        p_below = float(stats.norm.cdf(dw, mean, np.sqrt(var)))
    p_below = min(1.0, max(0.0, p_below))
    if alternative == "greater":
        p = p_below
    elif alternative == "less":
        p = 1.0 - p_below
    else:
        p = 2.0 * min(p_below, 1.0 - p_below)
    alt = {"two.sided": "true autocorrelation is not 0", "greater": "true autocorrelation is greater than 0",
           "less": "true autocorrelation is less than 0"}[alternative]
    return HTest(dw, p, alternative, "Durbin-Watson test", statistic_name="DW", alternative_text=alt)


def _imhof_below(lam) -> float:
    """P(sum_j lam_j z_j^2 <= 0) for independent standard normal z (Imhof 1961)."""
    lam = np.asarray(lam, dtype=np.float64)

    def integrand(u):
        theta = 0.5 * np.sum(np.arctan(lam * u))
        logrho = 0.25 * np.sum(np.log1p((lam * u) ** 2))
        return np.sin(theta) / (u * np.exp(logrho))

    val, _ = integrate.quad(integrand, 0.0, np.inf, limit=500, epsabs=1e-10)
    return 0.5 - val / np.pi


def moran(residuals, x, y, alternative="two.sided") -> HTest:
    """Moran's I of the residuals with inverse-distance weights 1/d_ij (d_ii: 0).

    As ape's Moran.I: the weights are row-standardized, I = n / S0 * e'We / e'e
    for the centered residuals e, with expectation -1/(n-1) and the variance under
    randomization (Cliff and Ord 1981, with the sample kurtosis of e); the p-value
    from the normal distribution ("greater": positive spatial autocorrelation).
    """
    check_alternative(alternative)
    r = np.asarray(residuals, dtype=np.float64)
    n = r.size
    d = np.hypot(np.subtract.outer(x, x), np.subtract.outer(y, y))
    with np.errstate(divide="ignore"):
        W = np.where(d > 0, 1.0 / d, 0.0)
    np.fill_diagonal(W, 0.0)
    rs = W.sum(axis=1)
    rs[rs == 0] = 1.0
    W = W / rs[:, None]
    e = r - r.mean()
    S0 = W.sum()
    obs = float(n / S0 * (e @ W @ e) / (e @ e))
    ei = -1.0 / (n - 1)
    S1 = 0.5 * np.sum((W + W.T) ** 2)
    S2 = np.sum((W.sum(axis=1) + W.sum(axis=0)) ** 2)
    kurt = n * np.sum(e ** 4) / np.sum(e ** 2) ** 2
    var = (n * ((n * n - 3 * n + 3) * S1 - n * S2 + 3 * S0 ** 2)
           - kurt * ((n * n - n) * S1 - 2 * n * S2 + 6 * S0 ** 2)) / ((n - 1) * (n - 2) * (n - 3) * S0 ** 2)
    sd = float(np.sqrt(var - ei ** 2))
    pv = float(stats.norm.cdf(obs, ei, sd))
    if alternative == "two.sided":
        p = 2 * pv if obs <= ei else 2 * (1 - pv)
    elif alternative == "greater":
        p = 1 - pv
    else:
        p = pv
    return HTest(obs, min(1.0, p), alternative, "Moran's I test for distance-based autocorrelation",
                 statistic_name="observed", estimate={"observed": obs, "expected": ei, "sd": sd})
