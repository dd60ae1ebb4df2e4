"""Every linear model lme4 fitted for tests/reference/*.json, fitted again by pymer and compared."""
import warnings

import numpy as np
import pandas as pd
import pytest

from conftest import load_reference
from refmodels import fit_lmer

SEED = load_reference("seed_models.json")
MORE = load_reference("lmm.json")

# lmm.json refits the seed models with lme4's warnings recorded; the seed file's own
# values are checked against it in test_seed_reference_consistent
CASES = [(k, v) for k, v in MORE.items() if not v["glmm"]]


def test_seed_reference_consistent():
    for k, v in SEED.items():
        if not v["glmm"]:
            assert MORE[k]["objective"] == pytest.approx(v["objective"], rel=1e-9)
            assert MORE[k]["fixef"] == pytest.approx(v["fixef"], rel=1e-6)


def _converged(ref):
    return not any("converge" in w for w in ref.get("optimizer_warnings") or [])


@pytest.fixture(scope="module")
def fits():
    return {}


def _fit(fits, key, ref):
    if key not in fits:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits[key] = fit_lmer(ref)
    return fits[key]


def _aslist(x):
    """The seed JSON writes one-element arrays as scalars."""
    return x if isinstance(x, list) else [x]


def _same_name(a, b):
    return (b is None and (a is None or pd.isna(a))) or a == b


def _close(a, b, rtol=1e-4, atol=1e-6):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=rtol, atol=atol)


@pytest.mark.parametrize("key,ref", CASES, ids=[c[0] for c in CASES])
def test_objective_no_worse_than_lme4(fits, key, ref):
    m = _fit(fits, key, ref)
    obj = ref["objective"]
    assert m.objective <= obj + 1e-6 * abs(obj), (m.objective, obj)
    if _converged(ref):
        assert m.objective == pytest.approx(obj, rel=1e-6, abs=1e-6)
    assert m.nobs == ref["nobs"]
    assert m.ngrps == ref["ngrps"]


@pytest.mark.parametrize("key,ref", CASES, ids=[c[0] for c in CASES])
def test_estimates_match_lme4(fits, key, ref):
    m = _fit(fits, key, ref)
    if not _converged(ref):
        pytest.skip("lme4 did not converge here: only the objective is compared")
    assert list(m.fixef.index) == list(ref["fixef"].keys())
    _close(m.fixef.values, list(ref["fixef"].values()), atol=1e-6 * max(1, np.abs(list(ref["fixef"].values())).max()))
    _close(np.sqrt(np.diag(m.vcov.values)), list(ref["se"].values()))
    _close(m.sigma, ref["sigma"])
    # theta near a boundary is poorly determined by either optimizer: absolute tolerance
    _close(m.theta, _aslist(ref["theta"]), rtol=1e-3, atol=2e-4)
    assert m.theta_names == _aslist(ref["theta_names"])
    vc = m.varcorr
    rvc = ref["varcorr"]
    assert len(vc) == len(rvc)
    for row, r in zip(vc.itertuples(), rvc):
        assert row.grp == r["grp"] and _same_name(row.var1, r["var1"]) and _same_name(row.var2, r["var2"])
        if r["sdcor"] is not None and abs(r["vcov"]) > 1e-6 * ref["sigma"] ** 2:
            _close(row.vcov, r["vcov"], rtol=1e-3, atol=1e-4 * ref["sigma"] ** 2)
            _close(row.sdcor, r["sdcor"], rtol=1e-3, atol=1e-4)
    assert m.is_singular == ref["singular"]
    _close(m.loglik, ref["loglik"], rtol=1e-7)
    _close(m.aic, ref["AIC"], rtol=1e-7)
    _close(m.bic, ref["BIC"], rtol=1e-7)
    _close(m.fitted[:10], ref["fitted_head"], rtol=1e-4, atol=1e-6 * abs(np.mean(ref["fitted_head"])))


@pytest.mark.parametrize("key,ref", CASES, ids=[c[0] for c in CASES])
def test_ranef_match_lme4(fits, key, ref):
    m = _fit(fits, key, ref)
    if not _converged(ref) or ref["singular"]:
        pytest.skip("conditional modes are compared only for regular, converged lme4 fits")
    for g, rr in ref["ranef"].items():
        df = m.ranef[g]
        assert list(df.index) == rr["levels"]
        assert list(df.columns) == _aslist(rr["columns"])
        scale = max(1e-8, np.abs(np.asarray(rr["values"])).max())
        _close(df.values, np.asarray(rr["values"], float).reshape(df.shape), rtol=1e-3, atol=1e-4 * scale)
