"""Profile-likelihood confidence intervals of GLMMs against lme4's confint(glmer fit)
(tests/reference/glmm_profile.json, made by glmm_profile.R; inference.json's cbpp entry too).

lme4 interpolates a spline through its profile points; pymer solves zeta = -/+ qnorm
for each end (re-optimizing all other parameters at each trial value), so the two
agree to the spline's accuracy (observed: within 1.4e-4 everywhere; allowed here
2e-3 absolute or relative).
"""
import warnings

import numpy as np
import pandas as pd
import pytest

import pymer
from conftest import load_reference
from refmodels import fit_glmer

REF = load_reference("glmm_profile.json")
INF = load_reference("inference.json")
_FITS = {}


def fit(key):
    if key not in _FITS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITS[key] = fit_glmer(REF[key])
    return _FITS[key]


def _table(entry):
    t = entry["table"]
    return pd.DataFrame(np.asarray(t["values"], dtype=float), index=t["rownames"], columns=t["columns"])


def _agree(got, want, tol=2e-3):
    assert list(got.index) == list(want.index)
    assert list(got.columns) == list(want.columns)
    g, w = got.to_numpy(), want.to_numpy()
    bad = np.abs(g - w) > tol * np.maximum(1.0, np.abs(w))
    assert not bad.any(), pd.concat([got, want], axis=1, keys=["pymer", "lme4"])


@pytest.mark.parametrize("key", sorted(k for k, v in REF.items() if "table" in v))
def test_profile_confint_as_lme4(key):
    m = fit(key)
    ci = m.confint()                 # lme4's default: method = "profile"
    _agree(ci, _table(REF[key]))


def test_cbpp_inference_entry():
    """inference.json's confint_cbpp_binomial_profile (same model as glmm_profile's cbpp)."""
    e = INF["confint_cbpp_binomial_profile"]
    ci = fit("cbpp_binomial").confint(method="profile", level=e["level"])
    t = e["table"]
    _agree(ci, pd.DataFrame(np.asarray(t["values"], dtype=float), index=t["rownames"], columns=t["columns"]))


@pytest.mark.parametrize("key,row", [("lamprey_juvenile_detect", ".sig01"),
                                     ("grouseticks_poisson", ".sig03"),
                                     ("cbpp_logical_response", ".sig01")])
def test_boundary_lower_limit_is_zero(key, row):
    """Where the profile reaches sd = 0 before |zeta| = 1.96 (singular fits among them),
    the lower limit is 0 exactly, as lme4 gives it."""
    ci = fit(key).confint(parm=row)
    assert _table(REF[key]).loc[row, "2.5 %"] == 0.0
    assert ci.loc[row, "2.5 %"] == 0.0
    assert ci.loc[row, "97.5 %"] > 0.5


def test_default_method_and_state_kept():
    m = fit("cbpp_binomial")
    par = np.r_[m.theta, m.beta]
    u = np.array(m.u)
    ci = m.confint(parm="beta_", level=0.9)
    assert list(ci.columns) == ["5 %", "95 %"] and list(ci.index) == m.fixef_names
    wald = m.confint(method="wald")
    assert wald.loc[".sig01"].isna().all()
    # profile intervals of the fixed effects are near Wald's here, but not equal (skewed)
    diff = np.abs(wald.iloc[1:].to_numpy() - m.confint(parm="beta_").to_numpy())
    assert diff.max() < 0.1 and diff.min() > 1e-3
    # the fit is untouched: estimates, modes, and the model's deviance at the estimates
    np.testing.assert_array_equal(np.r_[m.theta, m.beta], par)
    np.testing.assert_array_equal(m.u, u)
    assert abs(m.model.objective(par) - m.objective) < 1e-8


def test_profile_table():
    m = fit("cbpp_binomial")
    prof = m.profile(which=[".sig01", "period2"])
    assert list(prof.columns[:3]) == [".par", ".focal", ".zeta"]
    assert set(prof[".par"]) == {".sig01", "period2"}
    assert list(prof.columns[3:]) == [".sig01", "(Intercept)", "period2", "period3", "period4"]
    for nm, g in prof.groupby(".par"):
        z = g[".zeta"].to_numpy()
        assert np.all(np.diff(z) > 0), nm               # zeta increases with the focal value
        assert z.min() < -2.5 and z.max() > 2.5
        np.testing.assert_allclose(g[nm], g[".focal"])  # own column = focal value
        est = prof.estimates[nm]
        assert g.loc[g[".focal"] == est, ".zeta"].iloc[0] == 0.0
    ci = prof.confint()
    _agree(ci, _table(REF["cbpp_binomial"]).loc[[".sig01", "period2"]])
    # the other parameters move along the profile (re-optimized), as lme4's profile shows
    g = prof[prof[".par"] == "period2"]
    assert np.ptp(g["(Intercept)"].to_numpy()) > 0.1 and np.ptp(g[".sig01"].to_numpy()) > 0.0


def test_not_implemented_cases():
    """nAGQ = 0 (lme4's profile fails on it too) and dispersion families raise a clear error."""
    assert "error" in REF["cbpp_binomial_nAGQ0"]
    d = pymer.datasets.load("cbpp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m0 = pymer.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", d, "binomial", nAGQ=0)
    with pytest.raises(NotImplementedError, match="nAGQ = 0"):
        m0.confint()
    with pytest.raises(NotImplementedError, match="nAGQ = 0"):
        m0.profile()
    assert m0.confint(method="wald").shape == (5, 2)
    glmm = load_reference("glmm.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mg = fit_glmer(glmm["gamma_log"])
    with pytest.raises(NotImplementedError, match="dispersion"):
        mg.confint()
