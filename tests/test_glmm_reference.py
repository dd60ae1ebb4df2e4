"""Every GLMM lme4 fitted for tests/reference/glmm.json and seed_models.json, refitted by pymer."""
import warnings

import numpy as np
import pytest

from conftest import load_reference
from refmodels import fit_glmer

REFS = load_reference("glmm.json")
# Not done yet: for these pymer's two-stage optimization ends at a higher Laplace
# deviance than lme4 (non-canonical links, a correlated binomial slope). Strict
# xfail, so a fix shows up as XPASS.
KNOWN_WORSE = {"gamma_inverse", "grouseticks_poisson_sqrt", "invgauss_inverse"}
CASES = [pytest.param(k, v, marks=pytest.mark.xfail(strict=True, reason="optimizer ends above lme4's objective"))
         if k in KNOWN_WORSE else pytest.param(k, v) for k, v in sorted(REFS.items())]
IDS = sorted(REFS)


@pytest.fixture(scope="module")
def fits():
    return {}


def _fit(fits, key, ref):
    if key not in fits:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits[key] = fit_glmer(ref)
    return fits[key]


def _list(x):
    return x if isinstance(x, list) else [x]


@pytest.mark.parametrize("key,ref", CASES, ids=IDS)
def test_glmm_objective_no_worse_than_lme4(fits, key, ref):
    m = _fit(fits, key, ref)
    if ref.get("nAGQ", 1) > 1:
        # lme4 reports AGQ deviances without a constant (lme4 issue 161): compare estimates only
        np.testing.assert_allclose(m.theta, _list(ref["theta"]), rtol=2e-3, atol=1e-4)
        return
    obj = ref["objective"]
    assert m.objective <= obj + 1e-6 * abs(obj), (m.objective, obj)
    assert m.objective == pytest.approx(obj, rel=1e-4)


@pytest.mark.parametrize("key,ref", CASES, ids=IDS)
def test_glmm_estimates_match_lme4(fits, key, ref):
    m = _fit(fits, key, ref)
    fe = np.array(list(ref["fixef"].values()))
    assert list(m.fixef.index) == list(ref["fixef"].keys())
    np.testing.assert_allclose(m.fixef.values, fe, rtol=5e-3, atol=2e-3 * max(1, np.abs(fe).max()))
    np.testing.assert_allclose(m.theta, _list(ref["theta"]), rtol=5e-3, atol=2e-3)
    if "nb_theta" in ref:
        assert m.family.theta == pytest.approx(ref["nb_theta"], rel=1e-3)


@pytest.mark.parametrize("key", ["cbpp_binomial", "sites_counts_nb", "lamprey_juvenile_detect"])
def test_glmm_deviance_and_aic(fits, key):
    ref = REFS[key]
    m = _fit(fits, key, ref)
    assert m.aic == pytest.approx(ref["AIC"], rel=1e-5)
    assert m.df == ref["df"]
    assert m.deviance == pytest.approx(ref["deviance"], rel=1e-3)
