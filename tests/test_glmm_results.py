"""GLMM results beyond the estimates, against lme4 and broom.mixed: the residual scale of
Gamma / inverse Gaussian / gaussian GLMMs (VarCorr's Residual row, sigma, conditional
SDs, tidy's sd__Observation), likelihood-ratio tables of glmer fits (drop1, anova),
update / refit / bootstrap.

References: tests/reference/summaries.json (summaries.R: broom.mixed's tidy() and lme4's
sigma), glmm.json (refgen.R), inference.json (inference.R: drop1 and anova of glmer fits).
"""
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import pymer
from conftest import load_reference
from refmodels import fit_glmer, parse_call
from test_summary_lme4 import LME4_NOT_CONVERGED, _fit as fit_summary_entry

SUMMARIES = load_reference("summaries.json")
GLMM = load_reference("glmm.json")
INFERENCE = load_reference("inference.json")
DISPERSION = ["gamma_log", "invgauss_log", "gaussian_log"]

_FITS = {}


def _cached(key, make):
    if key not in _FITS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITS[key] = make()
    return _FITS[key]


def summary_fit(key):
    return _cached(("summaries", key), lambda: fit_summary_entry(SUMMARIES[key]))


# ---- the residual scale of Gamma, inverse Gaussian and gaussian GLMMs ----------------

@pytest.mark.parametrize("key", DISPERSION)
def test_dispersion_glmm_has_residual_row(key):
    m = summary_fit(key)
    v = SUMMARIES[key]["values"]
    # lme4's sigma of a glmer fit: sqrt((weighted Pearson RSS + |u|^2) / n)
    assert m.sigma == pytest.approx(v["sigma"], rel=5e-3)
    vc = m.varcorr
    assert list(vc["grp"]) == ["grp", "Residual"]
    assert vc["sdcor"].iloc[-1] == pytest.approx(m.sigma)
    assert vc["vcov"].iloc[-1] == pytest.approx(m.sigma ** 2)
    # the random-effect variance is on the sigma^2 scale: (theta sigma)^2
    assert vc["vcov"].iloc[0] == pytest.approx((m.theta[0] * m.sigma) ** 2)
    if key not in LME4_NOT_CONVERGED:
        assert vc["sdcor"].iloc[0] == pytest.approx(v["theta"][0] * v["sigma"], rel=1e-2)
    assert "Residual" in str(m.summary()) and "Residual" in str(m)
    assert m.glance()["sigma"][0] == pytest.approx(m.sigma)


@pytest.mark.parametrize("key", ["gamma_log", "invgauss_log"])
def test_dispersion_glmm_conditional_sds(key):
    ref = GLMM[key]
    m = _cached(("glmm", key), lambda: fit_glmer(ref))
    got = np.sqrt(m.condvar()["grp"][:, 0, 0])
    want = np.asarray(ref["ranef_condsd"]["grp"]["values"])[:, 0]
    np.testing.assert_allclose(got, want, rtol=1e-2)


def test_fixed_scale_glmm_has_no_residual_row():
    m = summary_fit("cbpp_binomial")
    assert "Residual" not in list(m.varcorr["grp"]) and m.sigma == 1.0
    assert "Residual" not in str(m.summary())


def _broom(entry):
    t = pd.DataFrame(entry["tidy"])
    return t


def _strings(col):
    return [None if x is None or pd.isna(x) else str(x) for x in col]


@pytest.mark.parametrize("key", sorted(k for k, v in SUMMARIES.items() if not v["ddf"]))
def test_tidy_as_broom_mixed(key):
    ref = _broom(SUMMARIES[key])
    t = summary_fit(key).tidy()
    assert list(t.columns) == list(ref.columns)
    for c in ("effect", "group", "term"):
        assert _strings(t[c]) == _strings(ref[c]), c
    rtol = 0.15 if key in LME4_NOT_CONVERGED else 1e-2
    np.testing.assert_allclose(t["estimate"].astype(float), ref["estimate"].astype(float),
                               rtol=rtol, atol=1e-3)
    fixed = (ref["effect"] == "fixed").to_numpy()
    if key not in LME4_NOT_CONVERGED:
        # GLMM standard errors come from the Hessian of the deviance (lme4's), a few percent
        np.testing.assert_allclose(t.loc[fixed, "std.error"].astype(float),
                                   ref.loc[fixed, "std.error"].astype(float), rtol=5e-2)
    assert t.loc[~fixed, "std.error"].isna().all()


# ---- likelihood-ratio tables of glmer fits ----------------------------------------------

def _is_glmm(entry):
    return any(parse_call(c)[0] != "lmer" for c in entry["models"].values())


def _glmer_fit(entry, name):
    fun, formula, kw = parse_call(entry["models"][name])
    ref = {"call": entry["models"][name], "data": entry["data"], "prep": entry.get("prep")}
    return _cached(("inference", entry["data"], ref["call"]), lambda: fit_glmer(ref))


def _table(entry):
    t = entry["table"]
    vals = np.array([[np.nan if x is None else x for x in row] for row in t["values"]], dtype=float)
    return pd.DataFrame(vals, index=t["rownames"], columns=t["columns"])


def _close(got, want, rtol, atol=0.0, what=""):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert np.array_equal(np.isnan(got), np.isnan(want)), (what, got, want)
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=rtol, atol=atol, err_msg=what)


_NUM = re.compile(r"(?<![\w.(])[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?(?![\w(])")


def _same_print(ours, theirs, rtol):
    """Printed tables: the same lines, words equal, numbers close."""
    assert len(ours) == len(theirs), "\n".join(ours)
    for a, b in zip(ours, theirs):
        assert _NUM.sub("#", a).split() == _NUM.sub("#", b).split(), (a, b)
        na = [float(x) for x in _NUM.findall(a)]
        nb = [float(x) for x in _NUM.findall(b)]
        np.testing.assert_allclose(na, nb, rtol=rtol, atol=2e-3, err_msg=f"{a!r} vs {b!r}")


GLMM_DROP1 = sorted(k for k, v in INFERENCE.items() if v["kind"] == "drop1" and _is_glmm(v))
GLMM_ANOVA = sorted(k for k, v in INFERENCE.items() if v["kind"] == "anova" and _is_glmm(v))


@pytest.mark.parametrize("key", GLMM_DROP1)
def test_glmm_drop1_as_lme4(key):
    e = INFERENCE[key]
    m = _glmer_fit(e, "m")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = m.drop1(test="Chisq")
    ref = _table(e)
    assert list(d.table.index) == list(ref.index)
    assert list(d.table.columns) == list(ref.columns)
    _close(d.table["npar"], ref["npar"], 0, what="npar")
    # pymer's optima are at or below lme4's deviance (lamprey without factor(DNA): 0.0023 below)
    assert np.all(d.table["AIC"].to_numpy() <= ref["AIC"].to_numpy() + 1e-5 * ref["AIC"].to_numpy())
    _close(d.table["AIC"], ref["AIC"], rtol=5e-5, what="AIC")
    _close(d.table["LRT"], ref["LRT"], rtol=1e-3, atol=5e-3, what="LRT")
    _close(np.log(d.table["Pr(Chi)"]), np.log(ref["Pr(Chi)"]), rtol=1e-2, atol=1e-3, what="p")
    _same_print(str(d).split("\n"), e["printed"], rtol=1e-3)


@pytest.mark.parametrize("key", GLMM_ANOVA)
def test_glmm_anova_as_lme4(key):
    e = INFERENCE[key]
    names = list(e["models"])
    fits = [_glmer_fit(e, nm) for nm in names]
    a = pymer.anova(*fits, names=names)
    ref = _table(e)
    assert list(a.table.index) == list(ref.index)
    assert list(a.table.columns) == list(ref.columns)
    _close(a.table["npar"], ref["npar"], 0, what="npar")
    _close(a.table["Df"], ref["Df"], 0, what="Df")
    for c in ("AIC", "BIC", "logLik", "deviance"):
        _close(a.table[c], ref[c], rtol=1e-5, what=c)
    _close(a.table["Chisq"], ref["Chisq"], rtol=1e-3, atol=2e-3, what="Chisq")
    _close(np.log(a.table["Pr(>Chisq)"]), np.log(ref["Pr(>Chisq)"]), rtol=1e-2, atol=1e-3, what="p")
    printed = [ln.replace("Data: d", f"Data: {e['data']}") for ln in e["printed"]]
    _same_print(str(a).split("\n"), printed, rtol=1e-3)


# ---- update, refit, bootstrap ------------------------------------------------------------

@pytest.fixture(scope="module")
def cbpp_fit():
    return summary_fit("cbpp_binomial")


def test_update_drops_a_term_and_keeps_the_family(cbpp_fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g0 = cbpp_fit.update(". ~ . - period")
        probit = cbpp_fit.update(family=pymer.families.Binomial(link="probit"))
    assert g0.formula == "cbind(incidence, size - incidence) ~ (1 | herd)"
    assert g0.fixef_names == ["(Intercept)"] and g0.family.name == "binomial"
    assert probit.family.link == "probit" and probit.nAGQ == cbpp_fit.nAGQ
    # lme4 (glmm.json, cbpp_probit)
    np.testing.assert_allclose(probit.fixef.values, list(GLMM["cbpp_probit"]["fixef"].values()),
                               rtol=5e-3, atol=2e-3)
    with pytest.raises(ValueError, match="REML=True is not available"):
        cbpp_fit.update(REML=True)


def test_update_of_glmer_nb_reestimates_theta():
    ref = GLMM["grouseticks_nb"]
    nb = _cached(("glmm", "grouseticks_nb"), lambda: fit_glmer(ref))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = nb.update()
    assert again.family.name == "negative.binomial"
    assert again.family.theta == pytest.approx(ref["nb_theta"], rel=1e-3)
    assert again.objective == pytest.approx(nb.objective, rel=1e-8)


def test_refit_with_own_response_reproduces_the_fit(cbpp_fit):
    # proportions (what simulate() gives) are turned back into the cbind() counts
    y = cbpp_fit.model.y
    r = cbpp_fit.refit(y)
    assert r.objective == pytest.approx(cbpp_fit.objective, rel=1e-9)
    np.testing.assert_allclose(r.fixef, cbpp_fit.fixef, rtol=1e-5, atol=1e-6)
    counts = np.asarray(cbpp_fit.model.mf.y)
    r2 = cbpp_fit.refit(counts)
    assert r2.objective == pytest.approx(cbpp_fit.objective, rel=1e-9)
    with pytest.raises(ValueError, match="one value per observation"):
        cbpp_fit.refit(y[:10])
    with pytest.raises(ValueError, match="non-finite"):
        cbpp_fit.refit(np.where(np.arange(y.size) == 3, np.nan, y))


def test_refit_to_simulated_responses_changes_the_estimates(cbpp_fit):
    ysim = cbpp_fit.simulate(2, seed=11)
    fits = [cbpp_fit.refit(ysim[c]) for c in ysim.columns]
    assert all(f.nobs == 56 for f in fits)
    assert not np.allclose(fits[0].fixef, fits[1].fixef)
    # the original fit is untouched
    assert cbpp_fit.objective == pytest.approx(SUMMARIES["cbpp_binomial"]["values"]["objective"], rel=1e-5)


def test_bootstrap_of_a_glmm(cbpp_fit):
    b = cbpp_fit.bootstrap(lambda m: m.fixef, nsim=8, seed=3)
    assert b.t.shape == (8, 4) and b.n_failed == 0
    assert b.names == cbpp_fit.fixef_names
    np.testing.assert_allclose(b.t0, cbpp_fit.fixef.values)
    # replicates scatter around the estimates by roughly their standard errors
    se = np.sqrt(np.diag(cbpp_fit.vcov))
    assert np.all(np.abs(b.t.mean(axis=0) - b.t0) < 3 * se)
    ci = cbpp_fit.confint(method="boot", nsim=6, seed=2)
    assert list(ci.index) == [".sig01", "(Intercept)", "period2", "period3", "period4"]


def test_glmm_anova_method_needs_other_models(cbpp_fit):
    with pytest.raises(ValueError, match="compares it with other fitted models"):
        cbpp_fit.anova()
