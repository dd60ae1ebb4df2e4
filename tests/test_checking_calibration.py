"""Calibration and power of the simulated-residual tests (pymer.checking).

A test should reject a correct model at level 0.05 in about 5% of data sets, and
reject a wrong one. Checked (1) exactly, when the observed response is one more draw
from the distribution the simulations come from; (2) on refits of a Poisson GLMM to
data simulated from it, where estimation makes the KS test conservative, as it does
for any KS test with estimated parameters; (3) for power: negative-binomial counts
fitted as Poisson (dispersion), zero-inflated counts fitted as Poisson (zeros).
bench/checking_calibration.py runs larger versions of (2).
"""
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import pymer
from pymer.checking import create_dharma, simulate_residuals


DRAW = {"poisson": lambda rng, mu: rng.poisson(mu), "gaussian": lambda rng, mu: rng.normal(mu)}


def _exchangeable_pvalues(draw, n_rep=200, n=60, n_sim=100, seed=0):
    """p-values of the tests when the observed response and the simulations are
    independent draws of the same distribution (the model is right and known)."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n_rep):
        mu = rng.uniform(0.5, 4.0, n)
        r = create_dharma(draw(rng, np.repeat(mu[:, None], n_sim, axis=1)), draw(rng, mu), fitted=mu, seed=k)
        out.append([r.test_uniformity().p_value, r.test_dispersion().p_value,
                    r.test_zero_inflation().p_value, r.test_outliers().p_value])
    return np.array(out)


@pytest.mark.parametrize("family", ["poisson", "gaussian"])
def test_pvalues_uniform_when_the_model_is_right(family):
    P = _exchangeable_pvalues(DRAW[family])
    for k, name in enumerate(["uniformity", "dispersion"]):
        p = P[:, k]
        assert stats.kstest(p, "uniform").pvalue > 1e-3, name
        assert 0.01 <= np.mean(p < 0.05) <= 0.10, name
    # the zero and outlier counts are discrete: their p-values can only be conservative
    for k, name in [(2, "zero inflation"), (3, "outliers")]:
        if family == "gaussian" and k == 2:
            continue
        assert np.mean(P[:, k] < 0.05) <= 0.08, name


@pytest.fixture(scope="module")
def poisson_refits():
    """A Poisson GLMM (20 groups x 5) fitted once; 100 responses simulated from it
    (new random effects) and the model refitted to each."""
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(20), 5)
    x = rng.normal(size=100)
    y = rng.poisson(np.exp(0.3 + 0.4 * x + rng.normal(0, 0.5, 20)[g]))
    m = pymer.glmer("y ~ x + (1 | g)", pd.DataFrame({"y": y, "x": x, "g": g}), family="poisson")
    Y = np.array(m.simulate(100, seed=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [m.refit(Y[:, j]) for j in range(Y.shape[1])]


def test_pvalues_on_refits_of_a_fitted_model(poisson_refits):
    P = []
    for j, f in enumerate(poisson_refits):
        r = simulate_residuals(f, n_sim=100, seed=j)
        P.append([r.test_uniformity().p_value, r.test_dispersion().p_value,
                  r.test_dispersion("greater").p_value])
    P = np.array(P)
    # dispersion (given the fitted random effects): close to uniform
    assert stats.kstest(P[:, 1], "uniform").pvalue > 1e-3
    assert 0.01 <= np.mean(P[:, 1] < 0.05) <= 0.12
    assert np.mean(P[:, 2] < 0.05) <= 0.08          # overdispersion: no false alarms
    # KS of residuals of a fitted model: conservative (never more rejections than 5%)
    assert np.mean(P[:, 0] < 0.05) <= 0.05
    assert np.mean(P[:, 0]) > 0.4


def _grouped_counts(rng, draw):
    g = np.repeat(np.arange(20), 10)
    x = rng.normal(size=200)
    mu = np.exp(0.8 + 0.3 * x + rng.normal(0, 0.3, 20)[g])
    return pd.DataFrame({"y": draw(rng, mu), "x": x, "g": g})


@pytest.mark.parametrize("seed", range(3))
def test_dispersion_rejects_negative_binomial_fitted_as_poisson(seed):
    rng = np.random.default_rng(seed)
    d = _grouped_counts(rng, lambda rng, mu: rng.negative_binomial(1.5, 1.5 / (1.5 + mu)))
    m = pymer.glmer("y ~ x + (1 | g)", d, family="poisson")
    r = simulate_residuals(m, n_sim=200, seed=seed)
    t = r.test_dispersion()
    assert t.p_value < 0.01 and t.statistic > 1.3
    assert r.test_dispersion("greater").p_value < 0.01


@pytest.mark.parametrize("seed", range(3))
def test_zero_inflation_rejects_zero_inflated_counts_fitted_as_poisson(seed):
    rng = np.random.default_rng(100 + seed)
    d = _grouped_counts(rng, lambda rng, mu: rng.poisson(mu) * (rng.uniform(size=mu.size) > 0.3))
    m = pymer.glmer("y ~ x + (1 | g)", d, family="poisson")
    t = simulate_residuals(m, n_sim=200, seed=seed).test_zero_inflation()
    assert t.p_value < 0.01 and t.statistic > 1.3
