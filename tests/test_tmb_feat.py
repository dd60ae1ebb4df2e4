"""glmmTMB's features against glmmTMB 1.1.5 (tests/reference/tmb_feat.R): models without
random effects, dispformula="~0", and profile-likelihood intervals."""
import json
import pathlib
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import pymer
from pymer.tmb.model import TMBModel
from pymer.tmb.profile import profile_confint
from tmbdata import assert_prints_as, load

REF = json.loads((pathlib.Path(__file__).parent / "reference" / "tmb_feat.json").read_text())


def _fit(formula, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pymer.glmmtmb(formula, data, **kw)


def _sleep():
    d = load("sleepstudy")
    d["y"] = d["Reaction"] / 100
    levels = [str(i + 1) for i in range(len(d))]
    d["obs"] = pd.Categorical(levels, categories=levels)
    return d


@pytest.fixture(scope="module")
def nore():
    sal, cbpp = load("Salamanders"), load("cbpp")
    return {"sal_zinb2": _fit("count ~ spp + mined", sal, ziformula="~1", family="nbinom2"),
            "sal_poisson": _fit("count ~ spp + mined", sal, family="poisson"),
            "cbpp_binomial": _fit("cbind(incidence, size - incidence) ~ period", cbpp, family="binomial"),
            "sleep_reml": _fit("Reaction ~ Days", load("sleepstudy"), REML=True)}


def _check_summary(res, ref):
    """From the fit statistics on, word by word, numbers to the digits printed."""
    assert_prints_as(res.summary().splitlines(), ref)


def _check_fit(res, r, se_rtol=5e-3):
    # never a worse likelihood than glmmTMB's, and the same optimum
    assert res.loglik >= r["loglik"] - 1e-6 * abs(r["loglik"])
    assert res.loglik == pytest.approx(r["loglik"], rel=1e-7)
    assert res.df == r["df"] and res.df_residual == r["df_residual"]
    assert res.aic == pytest.approx(r["AIC"], rel=1e-7) and res.bic == pytest.approx(r["BIC"], rel=1e-7)
    np.testing.assert_allclose(res.fitted, r["fitted"], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(res.predict(type="link"), r["predict_link"], rtol=1e-4, atol=1e-6)
    se = np.sqrt(np.diag(res.vcov_full.to_numpy()))
    np.testing.assert_allclose(se, np.array(r["se"][:se.shape[0]], dtype=float), rtol=se_rtol)


@pytest.mark.parametrize("mid", ["sal_zinb2", "sal_poisson", "cbpp_binomial", "sleep_reml"])
def test_no_random_effects_as_glmmTMB(nore, mid):
    res, r = nore[mid], REF["nore"][mid]
    _check_fit(res, r, se_rtol=2e-3 if mid != "sal_zinb2" else 2e-3)
    if not res.REML:
        np.testing.assert_allclose(res.par, r["par"], rtol=2e-4, atol=2e-4)
    else:
        np.testing.assert_allclose(res.betad, r["par"], rtol=1e-6)
        np.testing.assert_allclose(res.fixef, [251.405104848, 10.467285959], rtol=1e-7)
    _check_summary(res, r["summary"])
    assert "Random effects" not in res.summary()
    assert res.ranef == {} and res.ngrps == {} and len(res.varcorr) == (1 if mid == "sleep_reml" else 0)
    assert not res.is_singular


@pytest.mark.parametrize("mid, family", [("sal_poisson", "poisson"), ("cbpp_binomial", "binomial")])
def test_no_random_effects_equal_glm(nore, mid, family):
    res = nore[mid]
    d = load("Salamanders") if mid == "sal_poisson" else load("cbpp")
    g = pymer.glm(res.formula, d, family=family)
    np.testing.assert_allclose(res.fixef.to_numpy(), np.asarray(g.coef, dtype=float), rtol=1e-8, atol=1e-8)
    assert res.loglik == pytest.approx(float(g.loglik), rel=1e-10)


def test_no_random_effects_anova_tidy_simulate(nore):
    sal = load("Salamanders")
    big = _fit("count ~ spp + mined + (1 | site)", sal, family="poisson")
    a, r = nore["sal_poisson"].anova(big), REF["anova"]
    np.testing.assert_allclose(a["Df"], r["Df"])
    np.testing.assert_allclose(a["logLik"], r["logLik"], rtol=1e-7)
    np.testing.assert_allclose(a["Chisq"].iloc[1], r["Chisq"][1], rtol=1e-5)
    t, rt = nore["sal_zinb2"].tidy(), REF["tidy"]
    assert list(t.columns) == ["effect", "component", "term", "estimate", "std.error", "statistic", "p.value"]
    assert list(t["term"]) == rt["term"] and list(t["component"]) == rt["component"]
    np.testing.assert_allclose(t["estimate"], rt["estimate"], rtol=2e-4, atol=2e-4)
    np.testing.assert_allclose(t["std.error"], rt["std_error"], rtol=2e-3)
    res = nore["sal_zinb2"]
    sims = res.simulate(3, seed=1)
    assert sims.shape == (len(sal), 3) and np.isfinite(sims.to_numpy()).all()
    assert (sims.to_numpy() >= 0).all()
    # predictions at new data: the fitted rows' own values
    np.testing.assert_allclose(res.predict(sal.iloc[:5]), res.fitted[:5], rtol=1e-12)
    np.testing.assert_allclose(res.predict(sal.iloc[:5], re_form="NA"), res.fitted[:5], rtol=1e-12)
    # refit on a new response goes through the same no-random-effects core
    again = res.refit(res.model.y)
    assert again.loglik == pytest.approx(res.loglik, rel=1e-9)


def test_dispformula_zero_gaussian():
    d = _sleep()
    res, r = _fit("y ~ Days + (1 | Subject) + (1 | obs)", d, dispformula="~0"), REF["disp0"]["sleep_obs"]
    assert res.loglik >= r["loglik"] - 1e-6 * abs(r["loglik"])
    assert res.loglik == pytest.approx(r["loglik"], rel=1e-6)
    assert res.sigma == pytest.approx(r["sigma"], rel=1e-12)
    assert res.df == r["df"] and res.df_residual == r["df_residual"]
    np.testing.assert_allclose(res.fixef, r["par"][:2], rtol=1e-4)
    assert len(res.disp_fixef) == 0
    _check_summary(res, r["summary"])
    assert "Dispersion estimate" not in res.summary() and "Residual" not in res.summary()
    assert "Residual" not in list(res.varcorr["grp"])


def test_dispformula_zero_other_families():
    sal = load("Salamanders")
    res, r = _fit("count ~ mined + (1 | site)", sal, family="poisson", dispformula="~0"), \
        REF["disp0"]["sal_poisson"]
    assert res.loglik == pytest.approx(r["loglik"], rel=1e-7)
    _check_summary(res, r["summary"])
    assert "Dispersion:              ~0" in res.summary()
    assert "not implemented" in REF["disp0"]["nbinom2_error"]
    with pytest.raises(ValueError, match="~0 dispersion is not implemented for the nbinom2 family"):
        pymer.glmmtmb("count ~ mined + (1 | site)", sal, family="nbinom2", dispformula="~0")


@pytest.fixture(scope="module")
def zip_fit():
    return _fit("count ~ mined + (1 | site)", load("Salamanders"), ziformula="~1", family="poisson")


def _check_profile(ci, r, names):
    idx = [r["uniroot_names"].index(n) for n in names]
    assert list(ci.index) == names
    lo = np.array(r["uniroot_lower"], dtype=float)[idx]
    hi = np.array(r["uniroot_upper"], dtype=float)[idx]
    # where glmmTMB finds no root (NA: the profile never reaches the quantile) the
    # interval is open
    mlo, mhi = ci.iloc[:, 0].to_numpy(), ci.iloc[:, 1].to_numpy()
    assert np.array_equal(np.isnan(lo), mlo == -np.inf) and np.array_equal(np.isnan(hi), mhi == np.inf)
    ok = ~(np.isnan(lo) | np.isnan(hi))
    lo, hi, mlo, mhi = lo[ok], hi[ok], mlo[ok], mhi[ok]
    width = hi - lo
    # glmmTMB's uniroot roots to 1e-3 of the interval's width, its spline-interpolated
    # "profile" roots to 3 significant digits
    assert np.all(np.abs(mlo - lo) < 1e-3 * width)
    assert np.all(np.abs(mhi - hi) < 1e-3 * width)
    if "names" not in r:          # glmmTMB's spline method failed on this model
        return
    plo = np.array(r["lower"], dtype=float)[[r["names"].index(n) for n in names]]
    phi = np.array(r["upper"], dtype=float)[[r["names"].index(n) for n in names]]
    np.testing.assert_allclose(ci.iloc[:, 0], plo, rtol=1e-3, atol=1e-3 * width.max())
    np.testing.assert_allclose(ci.iloc[:, 1], phi, rtol=1e-3, atol=1e-3 * width.max())


def test_profile_confint_poisson_zi(zip_fit):
    r = REF["profile"]["sal_zip"]
    ci = zip_fit.confint(method="profile")
    assert list(ci.columns) == ["2.5 %", "97.5 %", "Estimate"]
    _check_profile(ci, r, r["names"])
    np.testing.assert_allclose(ci["Estimate"], r["estimate"], rtol=1e-4, atol=1e-4)
    # uniroot gives the same roots; parm by group and by position
    u = zip_fit.confint(method="uniroot", parm=4, estimate=False)
    assert list(u.index) == ["theta_1|site.1"] and list(u.columns) == ["2.5 %", "97.5 %"]
    np.testing.assert_allclose(u.to_numpy(), ci.loc[["theta_1|site.1"], ["2.5 %", "97.5 %"]].to_numpy(),
                               rtol=1e-6)


def test_profile_confint_dispersion_model():
    r = REF["profile"]["sleep_disp"]
    res = _fit("Reaction ~ Days + (1 | Subject)", load("sleepstudy"), dispformula="~Days")
    _check_profile(res.confint(method="profile", parm=["d~Days", "theta_1|Subject.1"]), r,
                   ["d~Days", "theta_1|Subject.1"])


def test_profile_confint_nbinom2_zi():
    r = REF["profile"]["sal_zinb2"]
    res = _fit("count ~ mined + (1 | site)", load("Salamanders"), ziformula="~mined", family="nbinom2")
    names = ["zi~minedno", "theta_1|site.1"]      # zi~minedno: open below, as glmmTMB's NA
    _check_profile(res.confint(method="uniroot", parm=names), r, names)


def test_profile_confint_random_slope():
    # glmmTMB's theta of a two-column term: log sd1, log sd2, correlation parameter
    r = REF["profile"]["sleep_slopes"]
    res = _fit("Reaction ~ Days + (Days | Subject)", load("sleepstudy"))
    ci = res.confint(method="uniroot", parm="theta_")
    _check_profile(ci, r, r["uniroot_names"])
    np.testing.assert_allclose(ci["Estimate"], r["estimate"], rtol=1e-4, atol=1e-4)


def test_profile_confint_bad_input(zip_fit):
    with pytest.raises(ValueError, match="parm 'sppPR' is not a parameter of this model"):
        zip_fit.confint(method="profile", parm="sppPR")
    with pytest.raises(ValueError, match="out of range"):
        zip_fit.confint(method="profile", parm=9)
    with pytest.raises(ValueError, match="method must be"):
        zip_fit.confint(method="bootstrap")
    with pytest.raises(ValueError, match="level"):
        zip_fit.confint(method="profile", level=1.5)
    with pytest.raises(ValueError, match="level"):
        zip_fit.confint(method="uniroot", level="0.95")
    with pytest.raises(ValueError, match="parm is empty"):
        zip_fit.confint(method="uniroot", parm=[])
    with pytest.raises(ValueError, match="parm is for"):
        zip_fit.confint(parm="minedno")
    reml = _fit("Reaction ~ Days + (1 | Subject)", load("sleepstudy"), REML=True)
    with pytest.raises(NotImplementedError, match="REML"):
        reml.confint(method="profile", parm="Days")
    # a term with three columns: its correlations and later SDs are not profiled (the
    # error comes before any fitting: the model alone names the parameters)
    d = load("sleepstudy")
    d["D2"] = (d["Days"] - 4.5) ** 2 / 10
    unfitted = SimpleNamespace(model=TMBModel("Reaction ~ Days + (Days + D2 | Subject)", d, "gaussian"))
    with pytest.raises(NotImplementedError, match="theta_Days \\+ D2\\|Subject.2"):
        profile_confint(unfitted, parm="theta_Days + D2|Subject.2")


def test_line_search_stall_at_the_optimum_is_not_a_convergence_failure():
    """L-BFGS-B's ABNORMAL line-search end is dropped only where the polished point's
    Newton step gains nothing (positive definite Hessian, tiny decrement)."""
    from pymer.tmb.model import _at_optimum
    H = np.array([[4.0, 1.0], [1.0, 3.0]])
    assert _at_optimum(100.0, np.array([1e-5, -1e-5]), H)
    assert not _at_optimum(100.0, np.array([0.5, 0.1]), H)                   # a step still gains
    assert not _at_optimum(100.0, np.array([1e-9, 0.0]), np.diag([1.0, -1.0]))  # not a minimum
