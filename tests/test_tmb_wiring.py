"""glmmtmb fits wherever a pymer fit goes: the call record (update, refit, drop1),
simulated residuals, tidy, anova's model lines, the CLI, predictions and emmeans."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pymer
from pymer.call import ModelCall

REF = Path(__file__).parent / "reference" / "tmb_wiring.json"


def _zi_counts(seed=7, n=300, g=20, pzero=0.3):
    rng = np.random.default_rng(seed)
    site = np.repeat(np.arange(g), n // g)
    x = rng.normal(size=n)
    b = rng.normal(0, 0.5, g)
    y = rng.poisson(np.exp(0.8 + 0.4 * x + b[site])) * (rng.uniform(size=n) > pzero)
    return pd.DataFrame({"y": y.astype(float), "x": x, "site": [f"s{i:02d}" for i in site]})


@pytest.fixture(scope="module")
def zi_fits():
    d = _zi_counts()
    m0 = pymer.glmmtmb("y ~ x + (1|site)", d, family="poisson")
    return d, m0, m0.update(ziformula="~1")


# ---- 1. the call record ------------------------------------------------------------
def test_call_is_recorded_and_update_edits_it(zi_fits):
    d, m0, m1 = zi_fits
    assert isinstance(m0.call, ModelCall) and m0.call.fn is pymer.glmmtmb
    assert m0.call.args["family"] == "poisson" and m1.call.args["ziformula"] == "~1"
    assert m1.model.has_zi and m1.zi_fixef.index.tolist() == ["(Intercept)"]
    direct = pymer.glmmtmb("y ~ x + (1|site)", d, family="poisson", ziformula="~1")
    assert m1.loglik == pytest.approx(direct.loglik, rel=1e-9)
    m2 = m1.update(". ~ . - x")
    assert m2.fixef.index.tolist() == ["(Intercept)"] and m2.model.has_zi
    with pytest.warns(pymer.errors.ConvergenceWarning):   # no overdispersion: phi runs to infinity
        nb = m1.update(family="nbinom2")
    assert nb.family.name == "nbinom2" and nb.loglik >= m1.loglik - 1e-6


def test_update_data_and_no_change_to_callers_data(zi_fits):
    d, m0, _ = zi_fits
    before = d.copy()
    half = m0.update(data=d.iloc[:150])
    assert half.nobs == 150
    pd.testing.assert_frame_equal(d, before)


def test_refit_through_the_model(zi_fits):
    d, m0, m1 = zi_fits
    same = m1.refit(d["y"].to_numpy())
    assert same.loglik == pytest.approx(m1.loglik, rel=1e-7)
    np.testing.assert_allclose(same.fixef, m1.fixef, rtol=1e-4, atol=1e-6)
    y2 = m1.simulate(1, seed=3)["sim_1"].to_numpy()
    other = m1.refit(y2)
    assert np.array_equal(other.model.y, y2) and not np.array_equal(m1.model.y, y2)
    assert m1.model.y is not other.model.y and np.array_equal(m1.model.y, d["y"].to_numpy())
    with pytest.raises(ValueError, match="new response has 3 values"):
        m1.refit(np.ones(3))
    with pytest.raises(pymer.errors.PymerDataError, match="row 2"):
        m1.refit(np.r_[1.0, np.nan, np.ones(298)])


def test_drop1_is_the_edited_formula(zi_fits):
    d, m0, m1 = zi_fits
    t = m1.drop1()
    sub = m1.update(". ~ . - x")
    assert t.loc["x", "AIC"] == pytest.approx(sub.aic, rel=1e-9)
    assert t.loc["x", "LRT"] == pytest.approx(2 * (m1.loglik - sub.loglik), rel=1e-9)


def test_binomial_refit_takes_proportions():
    cbpp = pymer.datasets.load("cbpp")
    m = pymer.glmmtmb("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial")
    r = m.refit(cbpp["incidence"].to_numpy() / cbpp["size"].to_numpy())
    assert r.loglik == pytest.approx(m.loglik, rel=1e-7)
    with pytest.raises(pymer.errors.PymerDataError, match=r"proportions in \[0, 1\]"):
        m.refit(cbpp["incidence"].to_numpy().astype(float))


# ---- 2. simulated residuals -----------------------------------------------------------
def test_zero_inflation_test_calibration(zi_fits):
    _, m0, m1 = zi_fits
    r0 = pymer.simulate_residuals(m0, n_sim=100)
    r1 = m1.simulate_residuals(n_sim=100)
    assert r0.integer_response and r0.simulated.shape == (300, 100)
    assert r0.test_zero_inflation().p_value < 0.01           # Poisson misses the zeros
    assert r1.test_zero_inflation().p_value > 0.1            # ziformula = ~1 has them
    assert r1.test_uniformity().p_value > 0.05
    np.testing.assert_allclose(r1.fitted, m1.fitted)


def test_simulated_residuals_options(zi_fits):
    _, _, m1 = zi_fits
    r = pymer.simulate_residuals(m1, n_sim=30, conditional=False)
    np.testing.assert_allclose(r.fitted, m1.predict(type="response", re_form="NA"))
    assert np.all((r.residuals >= 0) & (r.residuals <= 1))
    a = pymer.simulate_residuals(m1, n_sim=20, seed=5).residuals
    np.testing.assert_array_equal(a, pymer.simulate_residuals(m1, n_sim=20, seed=5).residuals)
    rb = pymer.simulate_residuals(m1, n_sim=4, refit=True)
    assert rb.refit and rb.simulated.shape[1] == 4


def test_simulated_residuals_binomial_are_proportions():
    cbpp = pymer.datasets.load("cbpp")
    m = pymer.glmmtmb("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="betabinomial")
    r = pymer.simulate_residuals(m, n_sim=40)
    assert r.integer_response
    assert np.all((r.simulated >= 0) & (r.simulated <= 1))
    np.testing.assert_allclose(r.observed, cbpp["incidence"] / cbpp["size"])


def test_simulated_residuals_continuous_family():
    rng = np.random.default_rng(2)
    g = np.repeat(np.arange(10), 12)
    y = rng.gamma(3.0, np.exp(0.5 + rng.normal(0, 0.3, 10)[g]) / 3.0)
    d = pd.DataFrame({"y": y, "g": g.astype(str)})
    m = pymer.glmmtmb("y ~ 1 + (1|g)", d, family="Gamma")
    r = pymer.simulate_residuals(m, n_sim=50)
    assert not r.integer_response and np.all(r.simulated > 0)


def test_simulated_residuals_reject_genpois_clearly():
    d = _zi_counts(pzero=0.0, n=120, g=12)
    m = pymer.glmmtmb("y ~ x + (1|site)", d, family="genpois")
    with pytest.raises(NotImplementedError, match="genpois"):
        pymer.simulate_residuals(m, n_sim=10)


# ---- 3. tidy, anova, the CLI ------------------------------------------------------------
@pytest.fixture(scope="module")
def sal():
    from tmbdata import load
    d = load("Salamanders")
    d.attrs["name"] = "d"
    m1 = pymer.glmmtmb("count ~ mined + (1 | site)", d, family="poisson", ziformula="~mined")
    m0 = pymer.glmmtmb("count ~ 1 + (1 | site)", d, family="poisson", ziformula="~mined")
    return d, m0, m1, json.loads(REF.read_text())


def test_tidy_has_broom_mixed_component_column(sal):
    _, _, m1, ref = sal
    t = pymer.tidy.tidy(m1)
    r = ref["tidy"]
    assert t.columns.tolist() == ["effect", "component", "group", "term", "estimate", "std.error",
                                  "statistic", "p.value"]
    for c in ("effect", "component", "group", "term"):
        assert t[c].tolist() == r[c]
    np.testing.assert_allclose(t["estimate"], r["estimate"], rtol=1e-4)
    np.testing.assert_allclose(t["std.error"].to_numpy()[:4], r["std.error"][:4], rtol=1e-3)
    np.testing.assert_allclose(t["p.value"].to_numpy()[:4], r["p.value"][:4], rtol=1e-2)
    pd.testing.assert_frame_equal(m1.tidy(), t)
    ci = m1.tidy(conf_int=True, effects="fixed")
    assert "group" not in ci.columns
    np.testing.assert_allclose(ci["conf.high"] - ci["estimate"], 1.959964 * ci["std.error"], rtol=1e-6)
    with pytest.raises(ValueError, match="ran_vals"):
        m1.tidy(effects="ran_vals")


def test_anova_prints_glmmtmb_model_lines(sal):
    _, m0, m1, ref = sal
    a = pymer.anova(m0, m1, names=["m0", "m1"])
    text = str(a)
    for line in ref["anova_heading"]:
        assert line in text
    assert a.table["Chisq"].iloc[1] == pytest.approx(ref["anova_chisq"], rel=1e-4)
    assert a.table["Pr(>Chisq)"].iloc[1] == pytest.approx(ref["anova_p"], rel=1e-3)


def test_cli_fits_glmmtmb(capsys, tmp_path):
    from pymer import cli
    d = _zi_counts(n=120, g=12)
    csv = tmp_path / "zi.csv"
    d.to_csv(csv, index=False)
    js = tmp_path / "zi.json"
    code = cli.main(["fit", "y ~ x + (1|site)", "--data", str(csv), "--family", "poisson", "--zi", "~1",
                     "--json", str(js)])
    out, _ = capsys.readouterr()
    assert code == 0 and "Zero-inflation model:" in out
    m = pymer.glmmtmb("y ~ x + (1|site)", d, family="poisson", ziformula="~1")
    got = json.loads(js.read_text())
    assert got["loglik"] == pytest.approx(m.loglik, rel=1e-9) and got["family"] == "poisson"
    code = cli.main(["fit", "y ~ x + (1|site)", "--data", str(csv), "--family", "nbinom9"])
    _, err = capsys.readouterr()
    assert code != 0 and "nbinom9" in err
    code = cli.main(["fit", "y ~ x + (1|site)", "--data", str(csv), "--family", "nbinom2", "--nagq", "2"])
    _, err = capsys.readouterr()
    assert code != 0 and "--nagq" in err


# ---- 4. predictions and emmeans (the conditional model, as ggeffects and emmeans) -------
def test_predict_response_matches_ggeffects(sal):
    _, _, m1, ref = sal
    p = pymer.predict_response(m1, "mined")
    r = ref["predict_response"]
    assert p["x"].astype(str).tolist() == r["x"]
    for c in ("predicted", "std.error", "conf.low", "conf.high"):
        np.testing.assert_allclose(p[c], r[c], rtol=1e-3)


def test_emmeans_match_r(sal):
    _, _, m1, ref = sal
    e = pymer.emmeans(m1, "mined", contrasts="pairwise")
    r = ref["emmeans"]
    em = e.emmeans
    assert em["mined"].astype(str).tolist() == r["mined"]
    for c in ("emmean", "SE", "df", "lower.CL", "upper.CL"):
        np.testing.assert_allclose(em[c], r[c], rtol=1e-3)
    ct, rc = e.contrasts, ref["contrasts"]
    assert ct["contrast"].tolist() == [rc["contrast"]]
    np.testing.assert_allclose(ct["estimate"], rc["estimate"], rtol=1e-3)
    np.testing.assert_allclose(ct["SE"], rc["SE"], rtol=1e-3)
    np.testing.assert_allclose(ct["p.value"], rc["p.value"], rtol=1e-2)
    resp = pymer.emmeans(m1, "mined", type="response").emmeans
    np.testing.assert_allclose(resp["rate"], ref["emmeans_response"]["rate"], rtol=1e-3)
    np.testing.assert_allclose(resp["SE"], ref["emmeans_response"]["SE"], rtol=1e-3)


def test_pymer_drop1_and_reml_refit(sal):
    d, m0, m1, ref = sal
    t = pymer.drop1(m1).table
    assert t.loc["mined", "LRT"] == pytest.approx(ref["anova_chisq"], rel=1e-4)
    sleep = pymer.datasets.load("sleepstudy")
    r1 = pymer.glmmtmb("Reaction ~ Days + (1 | Subject)", sleep, REML=True)
    r0 = pymer.glmmtmb("Reaction ~ 1 + (1 | Subject)", sleep, REML=True)
    with pytest.warns(pymer.RefitWarning):
        a = pymer.anova(r0, r1)
    ml1 = r1.update(REML=False)
    assert not ml1.REML and a.table["logLik"].iloc[1] == pytest.approx(ml1.loglik, rel=1e-8)
    lm_ml = pymer.lmer("Reaction ~ Days + (1 | Subject)", sleep, REML=False)
    assert ml1.loglik == pytest.approx(lm_ml.loglik, rel=1e-6)


def test_predict_response_random_nbinom2(sal):
    d, _, _, ref = sal
    nb = pymer.glmmtmb("count ~ mined + (1 | site)", d, family="nbinom2")
    p = pymer.predict_response(nb, "mined", type="random")
    r = ref["predict_response_nb2_random"]
    for c in ("predicted", "std.error", "conf.low", "conf.high"):
        np.testing.assert_allclose(p[c], r[c], rtol=1e-3)
