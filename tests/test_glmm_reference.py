"""Every GLMM lme4 fitted for tests/reference/glmm.json and seed_models.json, refitted by pymer."""
import warnings

import numpy as np
import pytest

from conftest import load_reference
from refmodels import fit_glmer
from pymer.optimize import ConvergenceWarning

REFS = load_reference("glmm.json")
# the same models refitted by lme4 with its PIRLS run to convergence
# (glmerControl(tolPwrss = 1e-12); tests/reference/glmm_tight.R)
TIGHT = load_reference("glmm_tight.json")
IDS = sorted(REFS)
LAPLACE = [k for k in IDS if REFS[k].get("nAGQ", 1) == 1]

# lme4's PIRLS stops at a point that is not the conditional mode: at lme4's own (theta,
# beta), sum(dev.resids) + ||u||^2 is 810.61 at lme4's u and 807.62 at pymer's u (both
# evaluated in R). With the sqrt link, u has more than one local minimum. pymer's Laplace
# deviance is lower (2060.40 vs 2064.49, also with tolPwrss = 1e-12), at other estimates.
OTHER_MODE = {"grouseticks_poisson_sqrt"}
# lme4's default tolPwrss = 1e-7 leaves its finite-difference Hessian, hence vcov() and the
# standard errors, off by 2e-3 to 1.4e-2 here (cbpp: intercept SE 0.2312 at the default,
# 0.2325 with tolPwrss = 1e-12, as pymer). pymer matches the converged lme4 to 1e-4.
LME4_SE_UNCONVERGED = {"cbpp_binomial", "cbpp_proportion_weights", "cbpp_poisson_offset",
                       "verbagg_binomial", "binom_slopes_sim"}


def _cases(xfails, keys=IDS):
    out = []
    for k in keys:
        marks = [pytest.mark.xfail(strict=True, reason=why) for ks, why in xfails if k in ks]
        out.append(pytest.param(k, REFS[k], marks=marks, id=k))
    return out


@pytest.fixture(scope="module")
def fits():
    return {}


def _fit(fits, key, ref):
    if key not in fits:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            fits[key] = fit_glmer(ref)
        fits[key + "#warnings"] = [str(x.message) for x in w if issubclass(x.category, ConvergenceWarning)]
    return fits[key]


def _list(x):
    return x if isinstance(x, list) else [x]


def _se(ref):
    return np.array(list(ref["se"].values()))


@pytest.mark.parametrize("key,ref", _cases([]))
def test_glmm_objective_no_worse_than_lme4(fits, key, ref):
    m = _fit(fits, key, ref)
    if ref.get("nAGQ", 1) > 1:
        # lme4 reports AGQ deviances without a constant (lme4 issue 161): compare estimates only
        np.testing.assert_allclose(m.theta, _list(ref["theta"]), rtol=2e-3, atol=1e-4)
        return
    for obj in (ref["objective"], TIGHT[key]["objective"]):
        assert m.objective <= obj + 1e-6 * abs(obj), (m.objective, obj)
        if key not in OTHER_MODE:
            assert m.objective == pytest.approx(obj, rel=1e-4)


@pytest.mark.parametrize("key,ref", _cases([(OTHER_MODE, "lme4's PIRLS ends off the conditional mode")], LAPLACE))
def test_glmm_deviance_function_is_lme4s(fits, key, ref):
    """At lme4's estimates (PIRLS converged), pymer's Laplace deviance is lme4's objective."""
    m = _fit(fits, key, ref)
    tight = TIGHT[key]
    model = m.model
    if "nb_theta" in tight:
        model.set_nb_theta(tight["nb_theta"])
    model._u_warm = None
    try:
        val = model.objective(np.concatenate([_list(tight["theta"]), list(tight["fixef"].values())]))
    finally:
        # leave the model as the fit left it
        if "nb_theta" in tight:
            model.set_nb_theta(m.family.theta)
        model.objective(np.concatenate([m.theta, m.beta]))
    assert val == pytest.approx(tight["objective"], rel=1e-7)


@pytest.mark.parametrize("key,ref", _cases([(OTHER_MODE, "lme4's PIRLS ends off the conditional mode")]))
def test_glmm_estimates_match_lme4(fits, key, ref):
    m = _fit(fits, key, ref)
    fe = np.array(list(ref["fixef"].values()))
    assert list(m.fixef.index) == list(ref["fixef"].keys())
    np.testing.assert_allclose(m.fixef.values, fe, rtol=5e-3, atol=2e-3 * max(1, np.abs(fe).max()))
    np.testing.assert_allclose(m.theta, _list(ref["theta"]), rtol=5e-3, atol=2e-3)
    if "nb_theta" in ref:
        assert m.family.theta == pytest.approx(ref["nb_theta"], rel=1e-3)


@pytest.mark.parametrize("key,ref", _cases([(OTHER_MODE, "lme4's PIRLS ends off the conditional mode")]))
def test_glmm_standard_errors_match_converged_lme4(fits, key, ref):
    """vcov from the Hessian of the deviance in (theta, beta) (nAGQ >= 1) or R_X (nAGQ = 0), as lme4."""
    m = _fit(fits, key, ref)
    tight = TIGHT[key]
    se = np.sqrt(np.diag(m.vcov.values))
    np.testing.assert_allclose(se, _se(tight), rtol=2e-3)
    np.testing.assert_allclose(m.vcov.values, np.array(tight["vcov"]), rtol=5e-3,
                               atol=2e-3 * np.outer(_se(tight), _se(tight)).max())
    # summary()'s Std. Error column is the same
    np.testing.assert_allclose(m.summary().coefficients["Std. Error"].values, se, rtol=1e-12)


@pytest.mark.parametrize("key,ref", _cases([(OTHER_MODE, "lme4's PIRLS ends off the conditional mode"),
                                            (LME4_SE_UNCONVERGED, "lme4's default tolPwrss moves its SEs")]))
def test_glmm_standard_errors_match_lme4(fits, key, ref):
    """lme4's SEs at its defaults, to the 4 significant digits it prints (rtol 2e-3)."""
    m = _fit(fits, key, ref)
    np.testing.assert_allclose(m.summary().coefficients["Std. Error"].values, _se(ref), rtol=2e-3)


def test_lme4_se_unconverged_list():
    """LME4_SE_UNCONVERGED is exactly where lme4's own SEs move by more than the 2e-3
    tolerance when its PIRLS converges (gamma_log and invgauss_log move by 1.2e-3-1.4e-3)."""
    moved = {k for k in IDS if np.max(np.abs(_se(TIGHT[k]) / _se(REFS[k]) - 1)) > 2e-3}
    assert moved == LME4_SE_UNCONVERGED


@pytest.mark.parametrize("key,ref", _cases([]))
def test_glmm_convergence_warnings_as_lme4(fits, key, ref):
    """No ConvergenceWarning where lme4 has no convergence message (VerbAgg included)."""
    _fit(fits, key, ref)
    lme4_msgs = [s for s in ref["conv_messages"] if "singular" not in s]
    if not lme4_msgs:
        assert fits[key + "#warnings"] == []


def test_glmm_vcov_falls_back_to_RX_when_the_hessian_is_not_positive_definite():
    """As lme4's vcov(): with lme4's warning, from R_X at the conditional mode."""
    ref = REFS["cbpp_binomial"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = fit_glmer(ref)
    V_hess = m.vcov.values
    m._hess = -np.eye(m._hess.shape[0])
    m._vcov_cache = None
    with pytest.warns(ConvergenceWarning, match="falling back to var-cov estimated from RX"):
        V = m._vcov_matrix()
    # R_X ignores the theta-beta correlation: close to the Hessian's, not equal (lme4 likewise)
    np.testing.assert_allclose(np.sqrt(np.diag(V)), np.sqrt(np.diag(V_hess)), rtol=0.03)
    assert not np.allclose(V, V_hess, rtol=1e-3)


@pytest.mark.parametrize("key", ["cbpp_binomial", "sites_counts_nb", "lamprey_juvenile_detect"])
def test_glmm_deviance_and_aic(fits, key):
    ref = REFS[key]
    m = _fit(fits, key, ref)
    assert m.aic == pytest.approx(ref["AIC"], rel=1e-5)
    assert m.df == ref["df"]
    assert m.deviance == pytest.approx(ref["deviance"], rel=1e-3)
