"""Random effects in glmmTMB's ziformula against glmmTMB 1.1.5 (tests/reference/tmb_zire.R):
the joint Laplace approximation over the conditional and the zero-inflation model's
random effects, its per-observation derivatives, results, summary and errors."""
import json
import pathlib
import warnings

import numpy as np
import pandas as pd
import pytest

import pymer
from pymer._core._tmb import obs_loglik
from pymer._core._tmb_joint import joint_obs_terms
from pymer.tmb import JointTMBResult
from pymer.tmb.families import family as tmb_family
from tmbdata import assert_prints_as, load

REF = json.loads((pathlib.Path(__file__).parent / "reference" / "tmb_zire.json").read_text())
MODELS = {"sal_zip": ("count ~ mined + (1 | site)", "~ mined + (1 | site)", "poisson"),
          "sal_zinb": ("count ~ spp + mined + (1 | site)", "~ (1 | site)", "nbinom2"),
          "sal_hurdle_nb2": ("count ~ spp + mined + (1 | site)", "~ spp + (1 | site)", "truncated_nbinom2"),
          "sal_zip_nocondre": ("count ~ spp + mined", "~ (1 | site)", "poisson")}


def _fit(formula, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pymer.glmmtmb(formula, data, **kw)


@pytest.fixture(scope="module")
def sal():
    return load("Salamanders")


@pytest.fixture(scope="module")
def fits(sal):
    return {k: _fit(f, sal, ziformula=z, family=fam) for k, (f, z, fam) in MODELS.items()}


@pytest.mark.parametrize("mid", list(MODELS))
def test_fit_matches_glmmtmb(fits, mid):
    res, r = fits[mid], REF[mid]
    assert isinstance(res, JointTMBResult)
    # never a worse likelihood than glmmTMB's, and the same optimum
    assert res.loglik >= r["loglik"] - 1e-6 * abs(r["loglik"])
    assert res.loglik == pytest.approx(r["loglik"], rel=1e-7)
    assert res.df == r["df"] and res.df_residual == r["df_residual"]
    assert res.aic == pytest.approx(r["AIC"], rel=1e-7) and res.bic == pytest.approx(r["BIC"], rel=1e-7)
    est = np.concatenate([res.fixef, res.zi_fixef, res.disp_fixef])
    np.testing.assert_allclose(est, r["par"][:est.shape[0]], rtol=1e-4, atol=5e-5)
    se = np.sqrt(np.diag(res.vcov_full.to_numpy()))
    assert list(res.vcov_full.index) == r["se_names"][:se.shape[0]]
    np.testing.assert_allclose(se, r["se"][:se.shape[0]], rtol=2e-3)
    np.testing.assert_allclose(res.varcorr_zi["sdcor"], r["sd_zi"], rtol=5e-4)
    np.testing.assert_allclose(res.varcorr["sdcor"].to_numpy(float), np.asarray(r["sd_cond"], float), rtol=5e-4)


@pytest.mark.parametrize("mid", list(MODELS))
def test_predictions_and_modes(fits, sal, mid):
    res, r = fits[mid], REF[mid]
    np.testing.assert_allclose(res.fitted, r["fitted"], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(res.predict(type="link"), r["predict_link"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(res.predict(type="zprob"), r["predict_zprob"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(res.predict(type="zlink"), r["predict_zlink"], rtol=1e-4, atol=1e-4)
    zi = res.ranef_zi["site"]
    assert list(zi.index) == r["ranef_levels"] and list(zi.columns) == ["(Intercept)"]
    np.testing.assert_allclose(zi["(Intercept)"], r["ranef_zi"], atol=2e-4)
    if r["ranef_cond"]:
        np.testing.assert_allclose(res.ranef["site"]["(Intercept)"], r["ranef_cond"], atol=2e-4)
    else:
        assert res.ranef == {}
    # new data: the other level of mined, spp shifted by one (as the R script)
    new = sal.copy()
    new["mined"] = pd.Categorical(np.where(sal["mined"] == "yes", "no", "yes"),
                                  categories=sal["mined"].cat.categories)
    cats = list(sal["spp"].cat.categories)
    new["spp"] = pd.Categorical([cats[(cats.index(s) + 1) % len(cats)] for s in sal["spp"]], categories=cats)
    np.testing.assert_allclose(res.predict(new, type="zprob"), r["predict_new_zprob"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(res.predict(new, type="response"), r["predict_new_response"], rtol=1e-4,
                               atol=1e-7)
    # re_form="NA": neither component's random effects
    np.testing.assert_allclose(res.predict(type="zlink", re_form="NA"), res.model.Xzi @ res.betazi)


@pytest.mark.parametrize("mid", list(MODELS))
def test_summary_as_glmmtmb_prints_it(fits, mid):
    """From the fit statistics on, word by word, numbers to the digits printed."""
    assert_prints_as(fits[mid].summary().splitlines(), REF[mid]["summary"])
    assert "Zero-inflation model:" in fits[mid].summary().split("Random effects:")[1].split("Conditional")[0] \
        or REF[mid]["ranef_cond"]


@pytest.mark.parametrize("mid", ["sal_zip", "sal_zinb", "sal_hurdle_nb2"])
def test_tidy_zi_component(fits, mid):
    t, r = fits[mid].tidy(), REF[mid]["tidy"]
    assert list(t["effect"]) == r["effect"] and list(t["component"]) == r["component"]
    assert list(t["term"]) == r["term"]
    assert [g if isinstance(g, str) else None for g in t["group"]] == r["group"]
    np.testing.assert_allclose(t["estimate"], r["estimate"], rtol=1e-3, atol=1e-4)
    fixed = t["effect"] == "fixed"
    np.testing.assert_allclose(t.loc[fixed, "std.error"], np.array(r["std_error"], dtype=float)[fixed.to_numpy()],
                               rtol=2e-3)


@pytest.mark.parametrize("name,trunc_ok", [("poisson", True), ("nbinom2", True), ("nbinom1", True),
                                           ("binomial", False), ("truncated_nbinom2", True),
                                           ("truncated_poisson", True)])
def test_joint_derivatives(name, trunc_ok):
    """The compiled per-observation terms: the single-component core's log-density
    (with zero inflation), and first, second and cross derivatives in (eta_c, eta_z)
    that match central differences."""
    fam = tmb_family(name)
    y = np.array([0.0, 0.0, 1.0, 3.0, 7.0]) if name != "binomial" else np.array([0.0, 0.0, 1.0, 1.0, 0.0])
    ec = np.array([0.3, -1.0, 0.5, 1.2, 2.0]) if name != "binomial" else np.array([0.3, -1.0, 0.5, 1.2, -2.0])
    ez = np.array([0.2, -0.5, 1.0, -2.0, 0.3])
    phi = 2.0 if fam.has_dispersion else 1.0
    o = joint_obs_terms(fam.code, fam.link_code, fam.truncated, y, 1.0, ec, ez, phi)
    s = obs_loglik(fam.code, fam.link_code, fam.truncated, True, y, 1.0, ec, ez, phi)
    np.testing.assert_allclose(o[0], s[0], rtol=1e-13)
    np.testing.assert_allclose(o[1], s[1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(o[3], s[2], rtol=1e-12, atol=1e-14)

    def f(a, b):
        return joint_obs_terms(fam.code, fam.link_code, fam.truncated, y, 1.0, a, b, phi)[0]
    h = 1e-4
    gc = (f(ec + h, ez) - f(ec - h, ez)) / (2 * h)
    gz = (f(ec, ez + h) - f(ec, ez - h)) / (2 * h)
    hcc = -(f(ec + h, ez) - 2 * f(ec, ez) + f(ec - h, ez)) / h ** 2
    hzz = -(f(ec, ez + h) - 2 * f(ec, ez) + f(ec, ez - h)) / h ** 2
    hcz = -(f(ec + h, ez + h) - f(ec + h, ez - h) - f(ec - h, ez + h) + f(ec - h, ez - h)) / (4 * h * h)
    np.testing.assert_allclose(o[1:], np.array([gc, gz, hcc, hzz, hcz]), atol=1e-5)
    assert np.any(o[5] != 0) == (not fam.truncated)


def test_laplace_against_quadrature(sal):
    """One site: the joint Laplace objective as an independent two-dimensional
    computation gives it, and near the exact integral (Gauss-Hermite quadrature)."""
    one = sal[sal["site"] == "R-1"].copy()
    one["site"] = one["site"].astype(str)
    m = pymer.tmb.JointTMBModel("count ~ 1 + (1 | site)", one, "poisson",
                                ziformula="~ (1 | site)")
    par = np.array([0.3, -0.2, 0.5, 0.8])      # beta, zi beta, the two sds
    lap = m.objective(par)
    x, w = np.polynomial.hermite_e.hermegauss(60)
    w = w / np.sqrt(2 * np.pi)
    y = one["count"].to_numpy(float)
    pr = m.unpack(par)
    eta0 = m.X @ pr["beta"]
    total = 0.0
    fam = m.family
    for a, wa in zip(x, w):
        for b, wb in zip(x, w):
            o = joint_obs_terms(fam.code, fam.link_code, False, y, 1.0, eta0 + pr["theta"][0] * a,
                                pr["betazi"][0] + pr["theta"][1] * b, 1.0)
            total += wa * wb * np.exp(o[0].sum())
    exact = -2 * np.log(total)
    assert abs(lap - exact) < 0.05 and np.isfinite(lap)
    # the same Laplace approximation from scipy's minimizer over the two random effects
    from scipy import optimize
    tc, tz = pr["theta"]

    def terms(u):
        return joint_obs_terms(fam.code, fam.link_code, False, y, 1.0, eta0 + tc * u[0],
                               pr["betazi"][0] + tz * u[1], 1.0)

    def pen(u):
        return -terms(u)[0].sum() + 0.5 * u @ u
    u = optimize.minimize(pen, np.zeros(2), method="BFGS", options={"gtol": 1e-10}).x
    o = terms(u)
    H = np.array([[tc * tc * o[3].sum(), tc * tz * o[5].sum()], [tc * tz * o[5].sum(), tz * tz * o[4].sum()]])
    ref = 2 * pen(u) + np.linalg.slogdet(H + np.eye(2))[1]
    assert lap == pytest.approx(ref, rel=1e-9)
    np.testing.assert_allclose(m.lap.u_vec, u, atol=1e-6)


def test_errors_and_refusals(sal):
    assert "no random effects allowed in dispersion" in REF["disp_re_error"]
    with pytest.raises(NotImplementedError, match="random effects in dispformula"):
        pymer.glmmtmb("count ~ mined + (1 | site)", sal, family="nbinom2", dispformula="~ (1 | site)")
    with pytest.raises(ValueError, match="REML"):
        pymer.glmmtmb("count ~ mined + (1 | site)", sal, family="poisson", ziformula="~ (1 | site)", REML=True)
    with pytest.raises(ValueError, match="no zeros to inflate"):
        pymer.glmmtmb("count ~ mined", sal.assign(count=sal["count"] + 1), family="Gamma",
                      ziformula="~ (1 | site)")
    with pytest.raises(NotImplementedError, match="method='wald'"):
        _fit("count ~ mined", sal, family="poisson", ziformula="~ (1 | site)").confint(method="profile")


def test_missing_rows_simulate_refit(sal):
    """A missing grouping value in the zero model drops the row (as glmmTMB); simulation
    draws both components' random effects; refit goes through the joint core."""
    d = sal.copy()
    d["site2"] = d["site"].astype(str)
    d.loc[[3, 10], "site2"] = None
    res = _fit("count ~ mined", d, family="poisson", ziformula="~ (1 | site2)")
    assert res.nobs == len(d) - 2 and d["site2"].isna().sum() == 2    # the caller's data unchanged
    sims = res.simulate(4, seed=2)
    assert sims.shape == (res.nobs, 4) and np.isfinite(sims.to_numpy()).all() and (sims.to_numpy() >= 0).all()
    again = res.refit(res.model.y)
    assert isinstance(again, JointTMBResult) and again.loglik == pytest.approx(res.loglik, rel=1e-8)
    assert not res.is_singular


def test_joint_terms_without_zero_inflation():
    fam = tmb_family("nbinom2")
    y, ec = np.array([0.0, 2.0, 5.0]), np.array([0.1, 0.7, 1.9])
    o = joint_obs_terms(fam.code, fam.link_code, False, y, 1.0, ec, 0.0, 1.5, has_zi=False)
    s = obs_loglik(fam.code, fam.link_code, False, False, y, 1.0, ec, 0.0, 1.5)
    np.testing.assert_allclose(o[[0, 1, 3]], s, rtol=1e-13)
    assert not o[[2, 4, 5]].any()


def test_dispformula_zero_on_the_response_scale():
    """dispformula ~0 with sleepstudy's Reaction as it is (variance ~1e3 against the fixed
    1.5e-8): the objective is noisy at ~5e-4, the gradient search stalls short of the
    optimum (-897.478 before), the Nelder-Mead polish reaches glmmTMB's log-likelihood."""
    d = load("sleepstudy")
    levels = [str(i + 1) for i in range(len(d))]
    d["obs"] = pd.Categorical(levels, categories=levels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # no convergence warning
        res = pymer.glmmtmb("Reaction ~ Days + (1 | Subject) + (1 | obs)", d, dispformula="~0")
    r = REF["sleep_disp0_unscaled"]
    assert res.loglik >= r["loglik"] - 1e-6 * abs(r["loglik"])
    # the standard errors to 1%; the fixed effects to 3% of them: the objective's noise
    # (5e-4) is a change of 0.02 SE in the intercept (glmmTMB's own is 0.007 SE from
    # lme4's exact optimum, 251.405)
    se = np.sqrt(np.diag(res.vcov.to_numpy()))
    np.testing.assert_allclose(se, r["se"], rtol=1e-2)
    assert np.all(np.abs(res.fixef.to_numpy() - r["par"][:2]) < 0.03 * se)
    # the random-effects SDs (obs carries the residual SD) to 1%: the optimum is flat there
    sd = res.varcorr.set_index("grp")["sdcor"]
    np.testing.assert_allclose([sd["Subject"], sd["obs"]], r["sd"], rtol=1e-2)
