"""The arguments and controls lme4 users pass (issue 12), against lme4's answers in
tests/reference/fidelity_args.json (made by fidelity_args.R): subset=, na_action=,
start=, mustart=, etastart=, control=, dev_fun_only=, getme(), links from make.link()
for any family, glmer() without a family."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pymer
from pymer.errors import (ConvergenceWarning, PredictorScaleWarning, PymerDataError,
                          RankDeficiencyWarning, SingularFitWarning)

REF = json.loads((Path(__file__).parent / "reference" / "fidelity_args.json").read_text())
SS = "Reaction ~ Days + (Days | Subject)"
CB = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


@pytest.fixture(scope="module")
def sleep():
    return pymer.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def cbpp():
    return pymer.datasets.load("cbpp")


def arr(x):
    return np.array([np.nan if v is None else v for v in np.atleast_1d(x)], dtype=float)


def objective(m):
    """-2 log-likelihood, as the reference stores it (REML fits: the REML criterion)."""
    return float(m.objective)


def assert_fit(m, ref, rtol=2e-4, atol=2e-4):
    """Estimates as lme4's to the digits it prints, objective never worse (1e-6 relative)."""
    assert m.nobs == ref["nobs"]
    np.testing.assert_allclose(m.theta, arr(ref["theta"]), rtol=rtol, atol=atol)
    np.testing.assert_allclose(m.fixef.to_numpy(), arr(ref["beta"]), rtol=rtol, atol=atol)
    assert list(m.fixef.index) == list(ref["fixef_names"])
    want = ref["objective"] if ref.get("REMLcrit") is None else ref["REMLcrit"]
    assert objective(m) <= want + 1e-6 * abs(want), (objective(m), want)
    assert abs(objective(m) - want) < 1e-3 * max(1.0, abs(want) * 1e-3)


def quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **k)


# ---- subset= ------------------------------------------------------------------------

def test_subset_expression_lmer(sleep):
    m = pymer.lmer(SS, sleep, subset="Days >= 2")
    assert_fit(m, REF["subset_lmer"])
    assert m.model.call.args["subset"] == "Days >= 2"
    # update() keeps subset (the call records it) and can change it
    assert m.update().nobs == 144
    assert m.update(subset=None).nobs == 180


def test_subset_boolean_array_equals_expression(sleep):
    a = pymer.lmer(SS, sleep, subset=(sleep["Days"] >= 2).to_numpy())
    b = pymer.lmer(SS, sleep, subset="Days >= 2")
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-10)
    assert a.objective == pytest.approx(b.objective, rel=1e-12)


def test_subset_glmer(cbpp):
    g = pymer.glmer(CB, cbpp, "binomial", subset="herd != '1'")
    assert_fit(g, REF["subset_glmer"], rtol=2e-3, atol=2e-3)
    assert g.model.call.args["subset"] == "herd != '1'"


def test_subset_bad_input(sleep):
    before = sleep.copy()
    with pytest.raises(PymerDataError, match="subset= selects no rows"):
        pymer.lmer(SS, sleep, subset="Days > 100")
    with pytest.raises(PymerDataError, match="subset has shape"):
        pymer.lmer(SS, sleep, subset=np.ones(5, dtype=bool))
    with pytest.raises(PymerDataError, match="one boolean per row"):
        pymer.lmer(SS, sleep, subset=np.arange(180))
    with pytest.raises(PymerDataError, match="must be a logical"):
        pymer.lmer(SS, sleep, subset="Days + 1")
    with pytest.raises(KeyError, match="Dayz"):
        pymer.lmer(SS, sleep, subset="Dayz > 1")
    pd.testing.assert_frame_equal(sleep, before)


# ---- na_action= -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def sleep_na(sleep):
    d = sleep.copy()
    d.loc[[2, 49, 99], "Reaction"] = np.nan       # R's rows 3, 50, 100
    d.loc[119, "Days"] = np.nan                    # R's row 120
    return d


def test_na_exclude_pads_lmer(sleep_na):
    before = sleep_na.copy()
    m = pymer.lmer(SS, sleep_na, na_action="na.exclude")
    ref = REF["na_lmer"]
    assert_fit(m, ref)
    for got, key in ((m.fitted, "fitted_exclude"), (m.residuals(), "resid_exclude"),
                     (m.residuals("pearson"), "pearson_exclude"), (m.predict(), "predict_exclude"),
                     (m.predict(re_form="~0"), "predict_re0_exclude")):
        want = arr(ref[key])
        assert got.shape == (180,)
        assert np.array_equal(np.isnan(got), np.isnan(want)), key
        np.testing.assert_allclose(got[~np.isnan(want)], want[~np.isnan(want)], rtol=1e-5, atol=1e-3, err_msg=key)
    assert np.flatnonzero(np.isnan(m.fitted)).tolist() == [r - 1 for r in REF["na_data_rows"]]
    pd.testing.assert_frame_equal(sleep_na, before)
    # the summary still prints (residual quantiles of the observations used)
    assert "Number of obs: 176" in str(m.summary())
    # na.omit (the default): no padding
    m0 = pymer.lmer(SS, sleep_na)
    np.testing.assert_allclose(m0.fitted, arr(ref["fitted_omit"]), rtol=1e-5)
    assert m0.model.call.args["na_action"] is None      # not given: R's default, na.omit
    assert m.update().fitted.shape == (180,)


def test_na_exclude_pads_glmer(cbpp):
    d = cbpp.copy()
    d.loc[4, "incidence"] = np.nan
    g = pymer.glmer(CB, d, "binomial", na_action="na.exclude")
    ref = REF["na_glmer"]
    assert_fit(g, ref, rtol=2e-3, atol=2e-3)
    for got, key in ((g.fitted, "fitted_exclude"), (g.residuals(), "resid_exclude"),
                     (g.residuals("response"), "resid_response_exclude"), (g.predict(), "predict_exclude"),
                     (g.predict(type="response"), "predict_resp_exclude")):
        want = arr(ref[key])
        assert np.array_equal(np.isnan(got), np.isnan(want)), key
        np.testing.assert_allclose(got[~np.isnan(want)], want[~np.isnan(want)], rtol=5e-3, atol=5e-3,
                                   err_msg=key)


def test_na_fail_names_the_columns(sleep_na):
    # lme4: "missing values in object"
    with pytest.raises(PymerDataError, match=r"missing values in object .*'Reaction' \(3 missing\), "
                                             r"'Days' \(1 missing\)"):
        pymer.lmer(SS, sleep_na, na_action="na.fail")
    assert REF["na_fail"] == "missing values in object"
    with pytest.raises(ValueError, match="na_action must be one of"):
        pymer.lmer(SS, sleep_na, na_action="drop")


def test_na_fail_only_looks_at_the_subset(sleep_na):
    m = pymer.lmer("Reaction ~ Days + (1 | Subject)", sleep_na, na_action="na.fail", subset="Days <= 1")
    assert m.nobs == 36


# ---- start=, mustart=, etastart= ------------------------------------------------------

def test_start_lmer(sleep):
    m = pymer.lmer(SS, sleep, start=[2, 0.5, 0.5])
    assert_fit(m, REF["start_lmer"])
    m2 = pymer.lmer(SS, sleep, start={"theta": [2, 0.5, 0.5]})
    assert_fit(m2, REF["start_lmer_list"])
    assert m.model.call.args["start"] == [2, 0.5, 0.5]
    # lme4: "incorrect number of theta components (!=3)"
    assert "incorrect number of theta components" in REF["start_bad"]
    with pytest.raises(ValueError, match="start has 2 values; theta has 3"):
        pymer.lmer(SS, sleep, start=[1, 2])
    with pytest.raises(TypeError, match="'theta' only"):
        pymer.lmer(SS, sleep, start={"theta": [1, 0, 1], "fixef": [250, 10]})


def test_start_glmer(cbpp):
    g = pymer.glmer(CB, cbpp, "binomial", start={"theta": [1], "fixef": [-1, -1, -1, -1]})
    assert_fit(g, REF["start_glmer"], rtol=2e-3, atol=2e-3)
    g = pymer.glmer(CB, cbpp, "binomial", start=0.3)
    assert_fit(g, REF["start_glmer_theta"], rtol=2e-3, atol=2e-3)
    with pytest.raises(ValueError, match=r"start\['fixef'\] has 2 values; the model has 4"):
        pymer.glmer(CB, cbpp, "binomial", start={"theta": [1], "fixef": [1, 2]})
    with pytest.raises(TypeError, match="'theta' and 'fixef'"):
        pymer.glmer(CB, cbpp, "binomial", start={"beta": [1, 2, 3, 4]})


def test_mustart_etastart_glmer(cbpp):
    g = pymer.glmer(CB, cbpp, "binomial", mustart=np.full(56, 0.2))
    assert_fit(g, REF["mustart_glmer"], rtol=2e-3, atol=2e-3)
    g = pymer.glmer(CB, cbpp, "binomial", etastart=np.full(56, -1.5))
    assert_fit(g, REF["etastart_glmer"], rtol=2e-3, atol=2e-3)
    assert g.model.call.args["etastart"] is not None
    with pytest.raises(PymerDataError, match="mustart has 3 values"):
        pymer.glmer(CB, cbpp, "binomial", mustart=[0.2, 0.2, 0.2])
    with pytest.raises(PymerDataError, match="cannot find valid starting values: mustart"):
        pymer.glmer(CB, cbpp, "binomial", mustart=np.full(56, 1.5))
    with pytest.raises(PymerDataError, match="etastart has missing"):
        pymer.glmer(CB, cbpp, "binomial", etastart=np.r_[np.nan, np.zeros(55)])


# ---- control= -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sleep_obs(sleep):
    d = sleep.copy()
    d["obs"] = [str(i) for i in range(len(d))]
    return d


F_OBS = "Reaction ~ Days + (1 | Subject) + (1 | obs)"


def test_check_nobs_vs_nlev(sleep_obs):
    want = REF["nobs_nlev_default"]["error"]
    with pytest.raises(PymerDataError, match=want.replace("(", r"\(").replace(")", r"\)")):
        pymer.lmer(F_OBS, sleep_obs)
    ctl = {"check_nobs_vs_nlev": "ignore", "check_nobs_vs_nRE": "ignore"}
    m = quiet(pymer.lmer, F_OBS, sleep_obs, control=ctl)
    ref = REF["nobs_nlev_ignore"]
    # the obs and residual variances are not separately identifiable: only the criterion is
    want = ref["REMLcrit"]
    assert m.objective <= want + 1e-6 * abs(want)
    assert m.model.call.args["control"] == ctl
    with pytest.warns(UserWarning) as rec:
        pymer.lmer(F_OBS, sleep_obs, control={"check_nobs_vs_nlev": "warning", "check_nobs_vs_nRE": "warning"})
    msgs = [str(w.message) for w in rec]
    for w in REF["nobs_nlev_warning"]["warnings"][:2]:
        assert w in msgs


def test_check_conv_singular(sleep):
    d2 = pymer.datasets.load("Dyestuff2")
    f = "Yield ~ 1 + (1 | Batch)"
    with pytest.warns(SingularFitWarning, match=r"boundary \(singular\) fit"):
        pymer.lmer(f, d2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = pymer.lmer(f, d2, control={"check_conv_singular": "ignore"})
    assert REF["singular_ignore"]["r_messages"] == [] and REF["singular_ignore"]["warnings"] == []
    assert m.theta[0] == 0.0
    assert m.objective == pytest.approx(REF["singular_ignore"]["REMLcrit"], rel=1e-9)
    with pytest.raises(PymerDataError, match="singular"):
        pymer.lmer(f, d2, control={"check_conv_singular": "stop"})
    m = quiet(pymer.lmer, f, d2, control={"restart_edge": False, "boundary_tol": 0.0})
    assert m.objective == pytest.approx(REF["no_restart_edge"]["REMLcrit"], rel=1e-9)


def test_calc_derivs_and_optimizers(sleep):
    m = pymer.lmer(SS, sleep, control={"calc_derivs": False})
    assert_fit(m, REF["calc_derivs_false"])
    m = pymer.lmer(SS, sleep, control={"optimizer": "Nelder_Mead"})
    assert_fit(m, REF["lmer_nelder_mead"])
    assert m.opt.optimizer == "nelder_mead"
    m = pymer.lmer(SS, sleep, control={"optimizer": "lbfgsb"})
    assert_fit(m, REF["calc_derivs_false"])
    assert m.opt.optimizer == "lbfgsb"
    with pytest.warns(ConvergenceWarning, match="maxeval"):
        m = pymer.lmer(SS, sleep, control={"optCtrl": {"maxfun": 5}, "check_conv": False})
    assert m.opt.nevals <= 6


def test_glmer_controls(cbpp):
    for key, ctl in (("glmer_two_optimizers", {"optimizer": ("bobyqa", "nelder_mead")}),
                     ("glmer_no_init_step", {"nAGQ0initStep": False}),
                     ("glmer_tolPwrss", {"tolPwrss": 1e-9}),
                     ("glmer_two_optimizers", {"optimizer": "lbfgsb"})):
        g = pymer.glmer(CB, cbpp, "binomial", control=ctl)
        assert_fit(g, REF[key], rtol=2e-3, atol=2e-3)
        assert g.model.call.args["control"] == ctl


def test_check_rankX_and_scaleX(sleep):
    d = sleep.copy()
    d["Days2"] = 2 * d["Days"]
    f = "Reaction ~ Days + Days2 + (1 | Subject)"
    with pytest.raises(PymerDataError, match="column rank deficient"):
        pymer.lmer(f, d, control={"check_rankX": "stop.deficient"})
    assert "rank deficient" in REF["rankX_stop"]["error"]
    with pytest.warns(RankDeficiencyWarning):
        m = pymer.lmer(f, d)
    assert m.objective == pytest.approx(REF["rankX_default"]["REMLcrit"], rel=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pymer.lmer(f, d, control={"check_rankX": "silent.drop.cols"})
    d["DaysBig"] = d["Days"] * 1e5
    with pytest.raises(PymerDataError, match="very different scales"):
        pymer.lmer("Reaction ~ DaysBig + (1 | Subject)", d, control={"check_scaleX": "stop"})
    with warnings.catch_warnings():
        warnings.simplefilter("error", PredictorScaleWarning)
        pymer.lmer("Reaction ~ DaysBig + (1 | Subject)", d, control={"check_scaleX": "ignore"})


def quiet_maxeval(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="convergence code 5")
        return fn(*a, **k)


def test_check_conv_grad_action(sleep):
    # a far too early stop fails the gradient check: its action decides what happens
    ctl = {"optCtrl": {"maxeval": 8}}
    with pytest.warns(ConvergenceWarning, match="max\\|grad\\|"):
        quiet_maxeval(pymer.lmer, SS, sleep, control=ctl)
    with pytest.raises(PymerDataError, match="check_conv_grad='stop'"):
        quiet(pymer.lmer, SS, sleep, control={**ctl, "check_conv_grad": "stop"})
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        pymer.lmer(SS, sleep, control={**ctl, "check_conv_grad": {"action": "ignore", "tol": 2e-3}})
    assert not [w for w in rec if "grad" in str(w.message)]
    assert [w for w in rec if "maxeval" in str(w.message)]


def test_control_bad_input(sleep, cbpp):
    # lme4: "unused argument (foo = 1)"
    assert "unused argument" in REF["unknown_control"]
    with pytest.raises(ValueError, match="unknown control setting 'foo' for lmer"):
        pymer.lmer(SS, sleep, control={"foo": 1})
    with pytest.raises(ValueError, match="did you mean 'check_nobs_vs_nlev'"):
        pymer.lmer(SS, sleep, control={"check.nobs.vs.nlev": "ignore"})
    with pytest.raises(ValueError, match="unknown control setting 'tolPwrss' for lmer"):
        pymer.lmer(SS, sleep, control={"tolPwrss": 1e-8})
    with pytest.raises(ValueError, match="must be one of 'ignore', 'warning', 'message', 'stop'"):
        pymer.lmer(SS, sleep, control={"check_nobs_vs_nlev": "skip"})
    with pytest.raises(ValueError, match="unknown optimizer 'newton'"):
        pymer.lmer(SS, sleep, control={"optimizer": "newton"})
    with pytest.raises(ValueError, match="one name"):
        pymer.lmer(SS, sleep, control={"optimizer": ("bobyqa", "nelder_mead")})
    with pytest.raises(ValueError, match="unknown optCtrl setting 'maxit'"):
        pymer.glmer(CB, cbpp, "binomial", control={"optCtrl": {"maxit": 3}})
    with pytest.raises(TypeError, match="True or False"):
        pymer.glmer(CB, cbpp, "binomial", control={"nAGQ0initStep": "no"})


# ---- dev_fun_only=, getme() ---------------------------------------------------------

def test_dev_fun_only_lmer(sleep):
    ref = REF["devfun_lmer"]
    f = pymer.lmer(SS, sleep, dev_fun_only=True)
    fml = pymer.lmer(SS, sleep, REML=False, dev_fun_only=True)
    for th, reml, ml in zip(ref["points"], ref["reml"], ref["ml"]):
        assert f(th) == pytest.approx(reml, rel=1e-10)
        assert fml(th) == pytest.approx(ml, rel=1e-10)
    assert f.lower.tolist() == [0, -np.inf, 0]
    with pytest.raises(ValueError, match="takes 3 parameters"):
        f([1, 0])
    with pytest.raises(ValueError, match="below its lower bound"):
        f([-1, 0, 1])
    # a package author's own optimizer reaches lme4's optimum
    from scipy.optimize import minimize
    r = minimize(f, f.start, bounds=list(zip(f.lower, [None] * 3)), method="L-BFGS-B")
    assert r.fun == pytest.approx(REF["calc_derivs_false"]["REMLcrit"], rel=1e-8)


def test_dev_fun_only_glmer(cbpp):
    ref = REF["devfun_glmer"]
    f = pymer.glmer(CB, cbpp, "binomial", dev_fun_only=True)
    assert f.names[0] == "herd.(Intercept)" and f.names[1] == "(Intercept)"
    for par, want in zip(ref["points"], ref["value"]):
        # lme4's PIRLS stops at tolPwrss 1e-7: its value is at or a little above the mode's
        assert f(par) <= want + 1e-9 * abs(want)
        assert f(par) == pytest.approx(want, rel=1e-7)
    f0 = pymer.glmer(CB, cbpp, "binomial", nAGQ=0, dev_fun_only=True)
    for par, want in zip(REF["devfun_glmer0"]["points"], REF["devfun_glmer0"]["value"]):
        assert f0(par) <= want + 1e-9 * abs(want)
        assert f0(par) == pytest.approx(want, rel=1e-5)


def test_getme_lmer(sleep):
    ref = REF["getme"]
    m = pymer.lmer(SS, sleep)
    np.testing.assert_allclose(m.getme("theta"), ref["theta"], rtol=1e-4)
    np.testing.assert_allclose(m.getme("beta"), ref["beta"], rtol=1e-6)
    assert m.getme("lower").tolist() == [0, -np.inf, 0]
    Lt = m.getme("Lambdat")
    assert list(Lt.shape) == ref["Lambdat_dim"] and Lt.nnz == ref["Lambdat_nnz"]
    np.testing.assert_allclose(Lt.toarray()[:4, :4], ref["Lambdat_top"], rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(m.getme("Lambda").toarray(), Lt.toarray().T)
    assert list(m.getme("Zt").shape) == ref["Zt_dim"] and list(m.getme("X").shape) == ref["X_dim"]
    np.testing.assert_allclose(np.asarray(m.getme("Z").sum(axis=1)).ravel()[:5], ref["Z_rowsum"])
    np.testing.assert_allclose(m.getme("u"), ref["u"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(m.getme("b"), ref["b"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(m.getme("RX"), ref["RX"], rtol=1e-6)
    assert list(m.getme("RZX").shape) == ref["RZX_dim"]
    assert m.getme("Gp").tolist() == ref["Gp"] and m.getme("Lind").tolist() == ref["Lind"]
    assert m.getme("cnms") == ref["cnms"]
    assert {k: list(v.categories) for k, v in m.getme("flist").items()} == ref["flist_levels"]
    for k in ("n_rtrms", "q", "p", "n", "REML", "is_REML"):
        assert m.getme(k) == ref[k], k
    assert m.getme("sigma") == pytest.approx(ref["sigma"], rel=1e-5)
    np.testing.assert_allclose(m.getme("y")[:5], ref["y_head"])
    np.testing.assert_allclose(m.getme("mu")[:5], ref["mu_head"], rtol=1e-6)
    np.testing.assert_allclose(m.getme("offset")[:5], ref["offset_head"])
    np.testing.assert_allclose(m.getme("ST")["Subject"], ref["ST"]["Subject"], rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(m.getme("Tlist")["Subject"], ref["Tlist"]["Subject"], rtol=1e-4, atol=1e-8)
    assert m.getme("devfun")(m.theta) == pytest.approx(m.objective, rel=1e-12)
    with pytest.raises(ValueError, match="unknown getme name 'Lambdt'; did you mean 'Lambdat'"):
        m.getme("Lambdt")


def test_getme_glmer(cbpp):
    ref = REF["getme_glmer"]
    g = pymer.glmer(CB, cbpp, "binomial")
    # pymer's optimum is 6e-4 below lme4's: estimates agree to lme4's printed digits
    np.testing.assert_allclose(g.getme("theta"), ref["theta"], rtol=1e-3)
    np.testing.assert_allclose(g.getme("beta"), ref["beta"], rtol=1e-3)
    np.testing.assert_allclose(g.getme("u"), ref["u"], rtol=5e-3, atol=1e-3)
    np.testing.assert_allclose(g.getme("mu")[:5], ref["mu_head"], rtol=1e-3)
    np.testing.assert_allclose(g.getme("RX"), ref["RX"], rtol=1e-3, atol=1e-6)
    assert g.getme("devfun")(np.r_[g.theta, g.beta]) == pytest.approx(g.objective, rel=1e-9)
    with pytest.raises(ValueError, match="negative binomial"):
        g.getme("glmer.nb.theta")


# ---- families: any link of make.link() -------------------------------------------------

def test_links_any_family(cbpp):
    ld = pd.DataFrame(REF["links_data"])
    g = pymer.glmer("y ~ x + (1 | g)", ld, pymer.families.Gaussian(link="logit"))
    assert_fit(g, REF["link_gaussian_logit"], rtol=2e-3, atol=2e-3)
    g = pymer.glmer(CB, cbpp, pymer.families.Binomial(link="sqrt"))
    assert_fit(g, REF["link_binomial_sqrt"], rtol=5e-3, atol=5e-3)
    g = quiet(pymer.glmer, "size ~ period + (1 | herd)", cbpp, pymer.families.Gamma(link="sqrt"))
    assert_fit(g, REF["link_gamma_sqrt"], rtol=5e-3, atol=5e-3)
    assert set(pymer.families.FAMILY_LINKS["poisson"]) == set(pymer.families.MAKE_LINK)
    # lme4 stops on binomial identity for cbpp ("PIRLS loop resulted in NaN value");
    # pymer fits it (probabilities stay inside (0, 1))
    assert "NaN" in REF["link_binomial_identity"]["error"]
    g = quiet(pymer.glmer, CB, cbpp, pymer.families.Binomial(link="identity"))
    assert np.all((g.mu > 0) & (g.mu < 1)) and np.isfinite(g.objective)
    with pytest.raises(ValueError, match='link "foo" not available for binomial family'):
        pymer.families.Binomial(link="foo")


# ---- glmer() without family= --------------------------------------------------------------

def test_glmer_without_family_is_gaussian(sleep):
    ref = REF["glmer_no_family"]
    with pytest.warns(DeprecationWarning, match=ref["warnings"][0].replace("(", r"\(").replace(")", r"\)")):
        m = pymer.glmer(SS, sleep)
    assert m.is_linear
    assert_fit(m, ref)
    with pytest.warns(DeprecationWarning):
        m = pymer.glmer(SS, sleep, subset="Days >= 2")
    assert m.nobs == 144
    # never a binomial fit in silence: a cbind() response without family= is an error
    with pytest.warns(DeprecationWarning), pytest.raises(PymerDataError, match="pass family="):
        pymer.glmer(CB, pymer.datasets.load("cbpp"))


# ---- boundary handling (restart_edge, boundary_tol) ----------------------------------------

def test_check_boundary_restarts_and_snaps():
    from pymer.optimize import check_boundary, minimize

    f = lambda x: float((x[0] - 1.0) ** 2 + x[1] ** 2)     # noqa: E731
    lower = np.array([0.0, -np.inf])
    # an optimizer that stopped on the bound although moving off it helps: restarted
    x, fx, rerun = check_boundary(f, np.array([0.0, 0.0]), 1.0, lower,
                                  restart=lambda y: minimize(f, y, lower))
    assert rerun is not None and x[0] == pytest.approx(1.0, abs=1e-4) and fx < 1e-7
    # without restart_edge it stays
    x, fx, rerun = check_boundary(f, np.array([0.0, 0.0]), 1.0, lower, restart=None)
    assert rerun is None and x[0] == 0.0
    # within boundary_tol of the bound, and no worse there: set on the bound
    g = lambda x: float(x[0] + x[1] ** 2)                  # noqa: E731
    x, fx, _ = check_boundary(g, np.array([3e-6, 0.0]), 3e-6, lower, boundary_tol=1e-5)
    assert x[0] == 0.0 and fx == 0.0
    x, _, _ = check_boundary(g, np.array([3e-6, 0.0]), 3e-6, lower, boundary_tol=0.0)
    assert x[0] == 3e-6


def test_the_call_keeps_every_argument(sleep, cbpp):
    ctl = {"optimizer": "nelder_mead", "check_conv_singular": "ignore"}
    m = pymer.lmer(SS, sleep, subset="Days >= 2", start=[1, 0, 1], control=ctl, REML=False)
    u = m.update()
    assert u.opt.optimizer == "nelder_mead" and u.nobs == 144 and not u.REML
    assert u.objective == pytest.approx(m.objective, rel=1e-12)
    g = pymer.glmer(CB, cbpp, "binomial", subset="period != '4'", etastart=np.full(56, -1.5),
                    control={"optimizer": ("bobyqa", "nelder_mead"), "tolPwrss": 1e-9})
    h = g.update(nAGQ=2)
    assert h.nobs == g.nobs == 43 and h.nAGQ == 2
    assert h.opt.optimizer == "nelder_mead"
    assert dict(h.model.call.args)["control"] == {"optimizer": ("bobyqa", "nelder_mead"), "tolPwrss": 1e-9}
