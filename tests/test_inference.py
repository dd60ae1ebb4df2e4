"""Inference on linear mixed models against lme4, lmerTest and pbkrtest (tests/reference/inference.json).

Every LMM entry of inference.json is checked: likelihood-ratio anova of nested fits,
drop1, lmerTest's summary (t tests) and anova (F tests) with Satterthwaite and
Kenward-Roger df, and confint (profile and Wald). GLMM entries (glmer) are left to
the GLMM tests. Then the lecture's numbers, the bootstrap, and behaviour checks.
"""
import math
import warnings

import numpy as np
import pandas as pd
import pytest

import pymer
from conftest import load_reference
from refmodels import load_data, parse_call

REF = load_reference("inference.json")


def _is_glmm(entry):
    return any(parse_call(c)[0] != "lmer" for c in entry["models"].values())


def _ids(kind):
    return [k for k, v in REF.items() if v["kind"] == kind and not _is_glmm(v)]


_FITS = {}


def fit(entry, name="m"):
    """The named model of an entry, fitted by pymer (cached per data, prep and call)."""
    call = entry["models"][name]
    key = (entry["data"], entry.get("prep"), call)
    if key not in _FITS:
        fun, formula, kw = parse_call(call)
        assert fun == "lmer", call
        args = {}
        if "REML" in kw:
            args["REML"] = kw["REML"] == "TRUE"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITS[key] = pymer.lmer(formula, load_data(entry), **args)
    return _FITS[key]


def _table(entry):
    t = entry["table"]
    vals = np.array([[np.nan if x is None else x for x in row] for row in t["values"]], dtype=float)
    return pd.DataFrame(vals, index=t["rownames"], columns=t["columns"])


def _close(got, want, rtol, atol=0.0, what=""):
    got = np.asarray(got, dtype=float)
    want = np.asarray(want, dtype=float)
    assert np.array_equal(np.isnan(got), np.isnan(want)), (what, got, want)
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=rtol, atol=atol, err_msg=what)


def _close_pvalues(got, want, rel_log=2e-3, what=""):
    """p-values, some as small as 1e-66: compare on the log scale."""
    got = np.asarray(got, dtype=float)
    want = np.asarray(want, dtype=float)
    assert np.array_equal(np.isnan(got), np.isnan(want)), (what, got, want)
    ok = ~np.isnan(want)
    lg, lw = np.log(got[ok]), np.log(want[ok])
    assert np.all(np.abs(lg - lw) <= rel_log * np.maximum(1.0, np.abs(lw))), (what, got, want)


# ---------------------------------------------------------------------------- anova --

@pytest.mark.parametrize("key", _ids("anova"))
def test_anova_nested_models(key):
    e = REF[key]
    names = list(e["models"])
    fits = [fit(e, nm) for nm in names]
    refit = "refit = FALSE" not in e["call"]
    expect_msg = any("refitting model(s) with ML" in w for w in e["warnings"])
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        a = pymer.anova(*fits, names=names, refit=refit)
    got_msg = any(issubclass(w.category, pymer.RefitWarning) for w in rec)
    assert got_msg == expect_msg
    ref = _table(e)
    assert list(a.table.index) == list(ref.index)
    assert list(a.table.columns) == list(ref.columns)
    _close(a.table["npar"], ref["npar"], 0, what="npar")
    _close(a.table["Df"], ref["Df"], 0, what="Df")
    for c in ("AIC", "BIC", "logLik", "deviance"):
        _close(a.table[c], ref[c], rtol=1e-7, what=c)
    _close(a.table["Chisq"], ref["Chisq"], rtol=1e-5, atol=2e-5, what="Chisq")
    _close_pvalues(a.table["Pr(>Chisq)"], ref["Pr(>Chisq)"], what="p")
    text = str(a)
    assert "Models:" in text and "Pr(>Chisq)" in text
    # as R: stars and their legend only when some p-value is below 0.1
    assert ("Signif. codes" in text) == bool(np.nanmin(ref["Pr(>Chisq)"]) < 0.1)
    for nm, f in zip(names, fits):
        assert f"{nm}: {f.formula}" in text
    # the whole printed table, character for character (R names the data "d")
    assert text.split("\n") == [ln.replace("Data: d", f"Data: {e['data']}") for ln in e["printed"]]


def test_anova_refit_uses_ml_fits():
    e = REF["anova_sleepstudy_random_slope"]
    a = pymer.anova(fit(e, "intercepts"), fit(e, "slopes"), names=["intercepts", "slopes"])
    # the refitted models are ML fits, and the REML fits passed in are untouched
    assert all(not m.REML for m in a.models)
    assert fit(e, "slopes").REML


def test_anova_default_names_order_and_checks():
    e = REF["anova_sleepstudy_three_models"]
    m_int, m_slope, m_quad = (fit(e, nm) for nm in ("intercepts", "slopes", "quadratic"))
    with pytest.warns(pymer.RefitWarning, match="refitting model"):
        a = pymer.anova(m_quad, m_int, m_slope)
    assert list(a.table.index) == ["m2", "m3", "m1"]          # sorted by npar
    assert list(a.table["npar"]) == [4, 6, 7]
    assert np.isnan(a.table["Chisq"].iloc[0])
    with pytest.raises(ValueError, match="two or more"):
        pymer.anova(m_int)
    small = pymer.lmer("Reaction ~ Days + (1 | Subject)", pymer.datasets.load("sleepstudy").iloc[:100])
    with pytest.raises(ValueError, match="same size"):
        pymer.anova(m_int, small)
    # the method form: m.anova(other) is the likelihood-ratio table
    with pytest.warns(pymer.RefitWarning):
        b = m_int.anova(m_slope)
    assert list(b.table.index) == ["m1", "m2"]


# ---------------------------------------------------------------------------- drop1 --

@pytest.mark.parametrize("key", _ids("drop1"))
def test_drop1(key):
    e = REF[key]
    m = fit(e)
    d = m.drop1(test="Chisq")
    ref = _table(e)
    assert list(d.table.index) == list(ref.index)
    assert list(d.table.columns) == list(ref.columns)
    _close(d.table["npar"], ref["npar"], 0, what="npar")
    _close(d.table["AIC"], ref["AIC"], rtol=1e-7, what="AIC")
    _close(d.table["LRT"], ref["LRT"], rtol=1e-5, atol=2e-5, what="LRT")
    _close_pvalues(d.table["Pr(Chi)"], ref["Pr(Chi)"], what="p")
    assert str(d).split("\n") == e["printed"]      # as R prints it, character for character


def test_drop1_lecture_numbers():
    """The lecture: drop1 of y ~ x + (x | site) fitted by ML."""
    m = fit(REF["drop1_sites_slopes_ML"])
    d = m.drop1()
    t = d.table
    assert round(t.loc["<none>", "AIC"], 2) == 913.08
    assert round(t.loc["x", "AIC"], 2) == 917.85
    assert round(t.loc["x", "LRT"], 4) == 6.7697
    assert round(t.loc["x", "Pr(Chi)"], 6) == 0.009272
    text = str(d)
    assert text.splitlines()[:4] == ["Single term deletions", "", "Model:", "y ~ x + (x | site)"]
    assert "x         1 917.85 6.7697 0.009272 **" in text


def test_drop1_respects_marginality_and_refits_reml_with_ml():
    e = REF["drop1_bats_interaction_ML"]
    ml = fit(e)
    reml = ml.update(REML=True)
    with pytest.warns(pymer.RefitWarning):
        d = reml.drop1()
    assert list(d.table.index) == ["<none>", "species:forest"]   # main effects are marginal
    _close(d.table["AIC"], _table(e)["AIC"], rtol=1e-7)


# ------------------------------------------------------------------ lmerTest summary --

@pytest.mark.parametrize("key", _ids("lmertest_summary"))
def test_lmertest_summary(key):
    e = REF[key]
    m = fit(e)
    s = m.summary(ddf=e["ddf"])
    ref = _table(e)
    c = s.coefficients
    assert list(c.index) == list(ref.index)
    assert list(c.columns) == ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]
    _close(c["Estimate"], ref["Estimate"], rtol=1e-5, atol=1e-8, what="Estimate")
    _close(c["Std. Error"], ref["Std. Error"], rtol=1e-4, what="SE")
    # lme4 stopped short of the optimum on the unbalanced data (pymer's REML criterion
    # is lower); elsewhere the df agree to a few parts in a million
    _close(c["df"], ref["df"], rtol=1e-4 if "unbalanced" in key else 2e-5, what="df")
    _close(c["t value"], ref["t value"], rtol=1e-4, what="t")
    _close_pvalues(c["Pr(>|t|)"], ref["Pr(>|t|)"], what="p")
    method = "Satterthwaite's" if e["ddf"] == "Satterthwaite" else "Kenward-Roger's"
    # lmerTest's title is wider than R's 80 columns: R wraps it (R 4.2.2, lmerTest 3.1-3)
    assert str(s).splitlines()[:2] == [f"Linear mixed model fit by REML. t-tests use {method} method [",
                                       "lmerModLmerTest]"]
    assert "Pr(>|t|)" in str(s) and "Random effects:" in str(s)


def test_lmertest_summary_layout():
    m = fit(REF["lmertest_summary_sleepstudy_slopes_satterthwaite"])
    lines = [ln.rstrip() for ln in str(m.summary(ddf="Satterthwaite")).splitlines()]
    i = lines.index("Fixed effects:")
    assert lines[i + 1:i + 4] == [
        "            Estimate Std. Error      df t value Pr(>|t|)",
        "(Intercept)  251.405      6.825  17.000  36.838  < 2e-16 ***",
        "Days          10.467      1.546  17.000   6.771 3.26e-06 ***",
    ]
    # ddf='lme4' is the plain lme4 summary
    assert str(m.summary(ddf="lme4")) == str(m.summary())


# -------------------------------------------------------------------- lmerTest anova --

@pytest.mark.parametrize("key", _ids("lmertest_anova"))
def test_lmertest_anova(key):
    e = REF[key]
    m = fit(e)
    a = m.anova(type=e["type"], ddf=e["ddf"])
    ref = _table(e)
    t = a.table
    assert list(t.index) == list(ref.index)
    assert list(t.columns) == list(ref.columns)
    _close(t["NumDF"], ref["NumDF"], 0, what="NumDF")
    _close(t["Sum Sq"], ref["Sum Sq"], rtol=1e-5, what="Sum Sq")
    _close(t["Mean Sq"], ref["Mean Sq"], rtol=1e-5, what="Mean Sq")
    # tight: Satterthwaite's multi-df DenDF depends on the basis of each hypothesis matrix
    _close(t["DenDF"], ref["DenDF"], rtol=2e-6, what="DenDF")
    _close(t["F value"], ref["F value"], rtol=1e-5, what="F")
    _close_pvalues(t["Pr(>F)"], ref["Pr(>F)"], what="p")
    roman = {1: "I", 2: "II", 3: "III"}[e["type"]]
    method = "Satterthwaite's" if e["ddf"] == "Satterthwaite" else "Kenward-Roger's"
    assert str(a).splitlines()[0] == f"Type {roman} Analysis of Variance Table with {method} method"


def test_lmertest_anova_layout_and_contest():
    m = fit(REF["lmertest_anova_sleepstudy_slopes_type3_satterthwaite"])
    lines = str(m.anova()).splitlines()
    # R pads the header for the significance-stars column
    assert lines[1:3] == ["     Sum Sq Mean Sq NumDF DenDF F value    Pr(>F)    ",
                          "Days  30031   30031     1    17  45.853 3.264e-06 ***"]
    # a 1-df F test is the square of the t test, with the same df
    t = pymer.contest(m, [0, 1], joint=False)
    F = pymer.contest(m, [0, 1])
    assert F["F value"].iloc[0] == pytest.approx(t["t value"].iloc[0] ** 2, rel=1e-10)
    assert F["DenDF"].iloc[0] == pytest.approx(t["df"].iloc[0], rel=1e-10)
    # a rank-deficient L: NumDF is its rank
    F2 = pymer.contest(m, [[0, 1], [0, 2]], ddf="Kenward-Roger")
    assert F2["NumDF"].iloc[0] == 1


def test_kenward_roger_refuses_large_q(monkeypatch):
    import pymer.inference.ddf as inf

    m = pymer.lmer("Reaction ~ Days + (Days | Subject)", pymer.datasets.load("sleepstudy"))
    monkeypatch.setattr(inf, "KR_MAX_DIM", 30)
    with pytest.raises(ValueError, match="dense 38 x 38"):
        m.summary(ddf="Kenward-Roger")


# --------------------------------------------------------------------------- confint --

@pytest.mark.parametrize("key", _ids("confint"))
def test_confint(key):
    e = REF[key]
    m = fit(e)
    ref = _table(e)
    ci = m.confint(method=e["method"].lower(), level=e["level"])
    assert list(ci.index) == list(ref.index)
    assert list(ci.columns) == list(ref.columns)
    if e["method"] == "Wald":
        # the standard errors move with the optimum along flat directions (sites: 2e-5)
        _close(ci, ref, rtol=1e-4, what="Wald")
    else:
        # lme4 interpolates a spline through its profile; pymer solves zeta = +/-1.96
        _close(ci, ref, rtol=5e-4, atol=1e-6, what="profile")
    new = m.confint(method="wald", old_names=False)
    assert list(new.index) == e["rownames_new"]


def test_profile_confint_lecture_numbers():
    """The lecture: lamprey Copies_2 ~ stock + (1 | Sample), profile intervals to 3 decimals."""
    m = fit(REF["confint_lamprey_adult_sample_profile"])
    ci = m.confint()
    want = {".sig01": (0, 0.2530644), ".sigma": (0.42261598, 0.5516767),
            "(Intercept)": (0.07661855, 0.4386785), "stock2L": (3.07946996, 3.5915000),
            "stock20L": (4.43108011, 4.9431102), "stock200L": (5.64397408, 6.1560041)}
    for nm, (lo, hi) in want.items():
        assert abs(ci.loc[nm, "2.5 %"] - lo) < 5e-4, nm
        assert abs(ci.loc[nm, "97.5 %"] - hi) < 5e-4, nm
    assert ci.loc[".sig01", "2.5 %"] == 0.0


def test_profile_table():
    m = fit(REF["confint_sleepstudy_slopes_profile"])
    prof = m.profile(which=[".sig01", "Days"])
    assert isinstance(prof, pd.DataFrame)
    assert list(prof.columns[:3]) == [".par", ".focal", ".zeta"]
    assert set(prof[".par"]) == {".sig01", "Days"}
    for par, d in prof.groupby(".par"):
        d = d.sort_values(".focal")
        z = d[".zeta"].to_numpy()
        assert np.all(np.diff(z) > 0), par                      # zeta increases through the estimate
        assert z.min() < -2.5 and z.max() > 2.5
        at0 = d[d[".zeta"] == 0.0]
        assert len(at0) == 1
        # the profiled parameter's own column is the focal value
        assert np.allclose(d[par], d[".focal"])
    # the profile is centred on the ML estimates (lme4 profiles the deviance)
    ml = m.update(REML=False)
    est = prof.estimates
    assert est["Days"] == pytest.approx(ml.fixef["Days"], rel=1e-6)
    assert est[".sigma"] == pytest.approx(ml.sigma, rel=1e-5)
    ci = prof.confint()
    assert list(ci.index) == [".sig01", "Days"]
    ref = _table(REF["confint_sleepstudy_slopes_profile"])
    _close(ci, ref.loc[[".sig01", "Days"]], rtol=5e-4)


def test_profile_plot_input():
    plots = pytest.importorskip("pymer.report.plots")
    m = fit(REF["confint_dyestuff_REML_profile"])
    long = plots._profile_long(m.profile())
    assert list(long.columns) == [".par", ".focal", ".zeta"]


# ------------------------------------------------------------------------- bootstrap --

def _slope(r):
    return r.fixef["Days"]


def _sd_slope(r):
    return np.r_[pymer.inference.sdcor_params(r)[2], r.fixef["Days"]]


@pytest.fixture(scope="module")
def sleep():
    return pymer.lmer("Reaction ~ Days + (Days | Subject)", pymer.datasets.load("sleepstudy"))


def test_bootstrap_reproducible_and_parallel(sleep):
    b1 = sleep.bootstrap(_sd_slope, nsim=12, seed=42)
    b2 = sleep.bootstrap(_sd_slope, nsim=12, seed=42)
    assert b1.t.shape == (12, 2)
    np.testing.assert_array_equal(b1.t, b2.t)
    np.testing.assert_array_equal(b1.t0, _sd_slope(sleep))
    b3 = sleep.bootstrap(_sd_slope, nsim=12, seed=43)
    assert not np.array_equal(b1.t, b3.t)
    bp = sleep.bootstrap(_sd_slope, nsim=12, seed=42, n_jobs=2)
    np.testing.assert_array_equal(b1.t, bp.t)
    assert b1.n_failed == 0
    # the fitted model is left as it was
    assert sleep.model.objective(sleep.theta) == pytest.approx(sleep.objective, rel=1e-12)


def test_bootstrap_worker_rebuilt_from_model_frame(sleep):
    """Without fork, workers rebuild the model from its ModelFrame: same replicates.
    (Run in-process here; spawning interpreters would dominate the test time.)"""
    import pickle

    import pymer.inference.bootmer as inf

    b1 = sleep.bootstrap(_slope, nsim=3, seed=7)
    seeds = np.random.SeedSequence(7).spawn(3)
    inf._boot_init(pickle.loads(pickle.dumps(sleep)), _slope, False)
    try:
        vals = [inf._boot_one(s)[0][0] for s in seeds]
    finally:
        inf._WORKER.pop("state", None)
    np.testing.assert_array_equal(b1.t[:, 0], vals)


def test_bootstrap_intervals_cover_profile(sleep):
    """Parametric-bootstrap percentile intervals agree with the profile intervals
    within Monte Carlo error (nsim = 150) on sleepstudy."""
    nsim = 150
    b1 = sleep.confint(method="boot", nsim=nsim, seed=2024)
    b2 = sleep.confint(method="boot", nsim=nsim, seed=2024)
    pd.testing.assert_frame_equal(b1, b2)
    prof = _table(REF["confint_sleepstudy_slopes_profile"])
    assert list(b1.index) == list(prof.index)
    width = prof["97.5 %"] - prof["2.5 %"]
    # a 2.5% quantile from 150 draws has a standard error of about 0.2 (interval
    # width / 4); allow three of them, plus the bootstrap's small-sample bias
    tol = 3 * 0.2 * width / 4 + 0.1 * width
    diff = (b1 - prof).abs()
    assert (diff["2.5 %"] < tol).all(), (b1, prof)
    assert (diff["97.5 %"] < tol).all(), (b1, prof)
    # and it is not trivially wide: each bootstrap interval is narrower than twice the profile's
    assert ((b1["97.5 %"] - b1["2.5 %"]) < 2 * width).all()


def test_confint_wald_and_parm(sleep):
    ci = sleep.confint(method="wald", level=0.9, parm="beta_")
    assert list(ci.columns) == ["5 %", "95 %"]
    assert list(ci.index) == ["(Intercept)", "Days"]
    se = math.sqrt(sleep.vcov.loc["Days", "Days"])
    assert ci.loc["Days", "95 %"] == pytest.approx(sleep.fixef["Days"] + 1.6448536269514722 * se)
    with pytest.raises(KeyError):
        sleep.confint(parm=["nope"], method="wald")
    with pytest.raises(ValueError, match="method"):
        sleep.confint(method="nope")


def test_anova_model_lines_use_r_spacing():
    # R (anova.merMod) prints the formulas deparsed: "m1: Reaction ~ Days + (1 | Subject)"
    d = pymer.datasets.load("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m1 = pymer.lmer("Reaction~Days+(1|Subject)", d, REML=False)
        m2 = pymer.lmer("Reaction~Days+(Days|Subject)", d, REML=False)
    lines = str(pymer.anova(m1, m2, names=["m1", "m2"])).splitlines()
    assert lines[:4] == ["Data: sleepstudy", "Models:", "m1: Reaction ~ Days + (1 | Subject)",
                         "m2: Reaction ~ Days + (Days | Subject)"]
