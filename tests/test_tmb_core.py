"""The compiled per-observation log-densities of glmmTMB's families (values against
scipy.stats, first and second derivatives in eta against central differences, zero
inflation and truncation), and the result's predictions, simulation and accessors."""
import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

import pymer
from pymer._core._tmb import obs_loglik
from pymer.tmb.families import family
from tmbdata import fit, load

Y = np.array([0.0, 1.0, 3.0, 7.0])
ETA = np.array([0.3, -0.2, 1.1, 1.5])
MU = np.exp(ETA)
P = special.expit(ETA)
YP = np.array([0.1, 0.5, 0.9, 0.3])
YG = np.array([0.5, 1.0, 2.0, 3.0])

CASES = [  # name, link, y, N, eta, phi, scipy log-density at mu
    ("poisson", "log", Y, 1.0, ETA, 1.0, stats.poisson.logpmf(Y, MU)),
    ("nbinom2", "log", Y, 1.0, ETA, 2.5, stats.nbinom.logpmf(Y, 2.5, 2.5 / (2.5 + MU))),
    ("nbinom1", "log", Y, 1.0, ETA, 0.7, stats.nbinom.logpmf(Y, MU / 0.7, 1 / 1.7)),
    ("gaussian", "identity", Y, 1.0, ETA, 2.0, stats.norm.logpdf(Y, ETA, np.sqrt(2.0))),
    ("beta", "logit", YP, 1.0, ETA, 5.0, stats.beta.logpdf(YP, P * 5, (1 - P) * 5)),
    ("betabinomial", "logit", Y, 8.0, ETA, 5.0, stats.betabinom.logpmf(Y, 8, P * 5, (1 - P) * 5)),
    ("binomial", "logit", Y, 8.0, ETA, 1.0, stats.binom.logpmf(Y, 8, P)),
    ("binomial", "probit", Y, 8.0, ETA, 1.0, stats.binom.logpmf(Y, 8, stats.norm.cdf(ETA))),
    ("binomial", "cloglog", Y, 8.0, ETA, 1.0, stats.binom.logpmf(Y, 8, -np.expm1(-np.exp(ETA)))),
    ("Gamma", "log", YG, 1.0, ETA, 3.0, stats.gamma.logpdf(YG, 3, scale=MU / 3)),
    ("Gamma", "inverse", YG, 1.0, 1 / MU, 3.0, stats.gamma.logpdf(YG, 3, scale=MU / 3)),
    ("genpois", "log", Y, 1.0, ETA, 2.0, None),
    ("tweedie", "log", np.array([0.0, 0.5, 2.0, 7.0]), 1.0, ETA, 1.3, None),
]


def _ll(name, link, y, N, eta, phi, trunc=False, zi=False, etaz=-0.4, power=1.4):
    f = family(name, link)
    return obs_loglik(f.code, f.link_code, trunc, zi, y, N, eta, etaz, phi, power)


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_log_density_and_its_derivatives(case):
    name, link, y, N, eta, phi, want = case
    o = _ll(name, link, y, N, eta, phi)
    if want is not None:
        np.testing.assert_allclose(o[0], want, rtol=1e-12, atol=1e-12)
    h = 1e-5
    up, dn = _ll(name, link, y, N, eta + h, phi), _ll(name, link, y, N, eta - h, phi)
    np.testing.assert_allclose(o[1], (up[0] - dn[0]) / (2 * h), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(o[2], -(up[1] - dn[1]) / (2 * h), rtol=1e-5, atol=1e-6)


def test_genpois_and_tweedie_are_densities():
    ys = np.arange(0, 200.0)
    o = _ll("genpois", "log", ys, 1.0, np.full(ys.shape, 0.4), 2.0)
    assert np.exp(o[0]).sum() == pytest.approx(1.0, abs=1e-10)
    assert (np.exp(o[0]) * ys).sum() == pytest.approx(np.exp(0.4), rel=1e-8)
    # tweedie: point mass at 0 plus the density on (0, inf) integrate to 1
    grid = np.linspace(1e-6, 60, 600001)
    mu, phi, p = 1.7, 1.3, 1.4
    dens = np.exp(_ll("tweedie", "log", grid, 1.0, np.full(grid.shape, np.log(mu)), phi, power=p)[0])
    p0 = np.exp(_ll("tweedie", "log", np.zeros(1), 1.0, np.log(mu), phi, power=p)[0][0])
    assert p0 == pytest.approx(np.exp(-mu ** (2 - p) / (phi * (2 - p))))
    assert p0 + np.trapezoid(dens, grid) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("name", ["poisson", "nbinom2", "nbinom1"])
def test_zero_inflation_and_truncation(name):
    phi = 1.0 if name == "poisson" else 1.7
    pz = special.expit(-0.4)
    base = _ll(name, "log", Y, 1.0, ETA, phi)[0]
    p0 = np.exp(_ll(name, "log", np.zeros(4), 1.0, ETA, phi)[0])
    zi = _ll(name, "log", Y, 1.0, ETA, phi, zi=True)
    want = np.log(np.where(Y == 0, pz, 0) + (1 - pz) * np.exp(base))
    np.testing.assert_allclose(zi[0], want, rtol=1e-12)
    hurdle = _ll(name, "log", Y, 1.0, ETA, phi, trunc=True, zi=True)
    want = np.where(Y == 0, np.log(pz), np.log1p(-pz) + base - np.log1p(-p0))
    np.testing.assert_allclose(hurdle[0], want, rtol=1e-12)
    h = 1e-5
    for trunc in (False, True):
        o = _ll(name, "log", Y, 1.0, ETA, phi, trunc=trunc, zi=True)
        up = _ll(name, "log", Y, 1.0, ETA + h, phi, trunc=trunc, zi=True)
        dn = _ll(name, "log", Y, 1.0, ETA - h, phi, trunc=trunc, zi=True)
        np.testing.assert_allclose(o[1], (up[0] - dn[0]) / (2 * h), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(o[2], -(up[1] - dn[1]) / (2 * h), rtol=1e-5, atol=1e-7)


def test_predict_newdata_matches_the_fitted_rows():
    m = fit("sal_zinb2_cov")
    d = load("Salamanders")
    for t in ("response", "link", "conditional", "zprob", "zlink", "disp"):
        np.testing.assert_allclose(m.predict(d.iloc[:30], type=t), m.predict(type=t)[:30], rtol=1e-12)
    pop = m.predict(d.iloc[:5], type="link", re_form="NA")
    np.testing.assert_allclose(pop, (m.model.X @ m.beta)[:5])
    new = d.iloc[:3].copy()
    new["site"] = pd.Categorical(["nowhere"] * 3)
    with pytest.raises(Exception, match="nowhere|new level"):
        m.predict(new)
    np.testing.assert_allclose(m.predict(new, type="link", allow_new_levels=True), pop[:3])
    with pytest.raises(ValueError, match="type must be one of"):
        m.predict(type="mean")


def test_accessors():
    m = fit("sites_nbinom2")
    assert list(m.fixef.index) == ["(Intercept)", "x"]
    assert m.zi_fixef.empty and list(m.disp_fixef.index) == ["(Intercept)"]
    assert m.vcov.shape == (2, 2) and list(m.vcov_full.index) == ["(Intercept)", "x", "d~(Intercept)"]
    assert m.ranef["site"].shape == (16, 2)
    assert list(m.varcorr.columns) == ["grp", "var1", "var2", "vcov", "sdcor"]
    np.testing.assert_allclose(m.residuals("response"), m.model.y - m.fitted)
    assert "nbinom2" in repr(m)


@pytest.mark.parametrize("mid", ["sal_zinb2_cov", "sal_hurdle_poisson", "cbpp_betabinomial", "sal_tweedie",
                                 "owls_gamma_log", "beta_sim"])
def test_simulate(mid):
    m = fit(mid)
    s = m.simulate(nsim=40, seed=1)
    assert s.shape == (m.nobs, 40) and list(s.columns[:2]) == ["sim_1", "sim_2"]
    assert np.isfinite(s.to_numpy()).all()
    pd.testing.assert_frame_equal(s, m.simulate(nsim=40, seed=1))
    if m.family.counts or m.family.truncated:
        assert (s.to_numpy() == np.round(s.to_numpy())).all()
    # the overall mean of the simulations is near the data's (new random effects: loose)
    ybar = np.mean(m.model.y)
    assert abs(s.to_numpy().mean() - ybar) < 0.35 * ybar + 0.05
    with pytest.raises(ValueError, match="nsim"):
        m.simulate(nsim=0)


def test_ziformula_dot_is_the_conditional_fixed_part():
    d = load("Salamanders")
    a = pymer.glmmtmb("count ~ mined + (1 | site)", d, family="poisson", ziformula="~.")
    b = pymer.glmmtmb("count ~ mined + (1 | site)", d, family="poisson", ziformula="~mined")
    assert list(a.zi_fixef.index) == ["(Intercept)", "minedno"]
    np.testing.assert_allclose(a.zi_fixef, b.zi_fixef, rtol=1e-6)
    assert a.loglik == pytest.approx(b.loglik, rel=1e-10)

