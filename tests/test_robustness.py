"""Hard data: pymer warns as lme4 warns and still answers; fits in threads and in long loops."""
import copy
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

import pymer
from pymer import ConvergenceWarning, PymerDataError, RankDeficiencyWarning, SingularFitWarning
from pymer.formula import parse_formula
from pymer.validate import (PerfectFitWarning, PredictorScaleWarning, check_scale_x,
                            drop_aliased_columns)

from conftest import load_reference, rss_mb
from refmodels import load_data, parse_call

# lme4's REML fit of Reaction ~ Days + (Days | Subject) (tests/reference/lmm.json)
SLEEP_THETA = np.array([0.96674177, 0.01516906, 0.23090995])
SLEEP_FIXEF = np.array([251.40510485, 10.46728596])
SLEEP_SIGMA = 25.59179572
F = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def sleep():
    return pymer.datasets.load("sleepstudy")


def quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **k)


# ---------------------------------------------------------------------------
# singular fits, perfect fits
# ---------------------------------------------------------------------------

def test_singular_fit_warns_and_answers():
    d = pymer.datasets.load("Dyestuff2")
    with pytest.warns(SingularFitWarning, match=r"boundary \(singular\) fit: see help\('isSingular'\)"):
        m = pymer.lmer("Yield ~ 1 + (1 | Batch)", d)
    assert m.is_singular and m.theta[0] == 0.0
    assert np.isfinite(m.objective) and np.isfinite(m.sigma) and np.all(np.isfinite(m.vcov.values))


def test_perfect_fit_by_fixed_effects_is_a_clear_error(sleep):
    # y = X beta exactly: r^2(theta) = 0 for every theta, the criterion is -Inf, no estimate exists
    for y in (3.0 + 2.5 * sleep["Days"], 7.0 + 0 * sleep["Days"], 1e9 * (1 + sleep["Days"])):
        d = sleep.assign(y=y)
        before = copy.deepcopy(d)
        with pytest.raises(PymerDataError, match="response 'y' is"):
            pymer.lmer("y ~ Days + (1 | Subject)", d)
        pd.testing.assert_frame_equal(d, before)
    # ... but a small, genuine residual variation is fitted
    rng = np.random.default_rng(1)
    d = sleep.assign(y=1e6 + 2.5 * sleep["Days"] + 1e-3 * rng.standard_normal(180))
    m = quiet(pymer.lmer, "y ~ Days + (1 | Subject)", d)
    assert m.sigma == pytest.approx(1e-3, rel=0.2)
    assert m.fixef["Days"] == pytest.approx(2.5, abs=1e-4)


def test_perfect_fit_by_random_effects_warns_and_stays_finite(sleep):
    # y constant within subject: fixed + random effects fit it exactly, sigma -> 0, theta -> Inf
    rng = np.random.default_rng(2)
    subj_effect = dict(zip(sleep["Subject"].unique(), rng.normal(0, 30, 18)))
    d = sleep.assign(y=250 + sleep["Subject"].map(subj_effect).astype(float))
    with pytest.warns(PerfectFitWarning, match="residual standard deviation is essentially 0"):
        m = pymer.lmer("y ~ 1 + (1 | Subject)", d)
    assert np.isfinite(m.objective) and np.isfinite(m.sigma) and np.all(np.isfinite(m.theta))
    assert np.all(np.isfinite(m.fixef.values)) and np.all(np.isfinite(m.ranef["Subject"].values))
    # the criterion never returns -Inf or NaN, however large theta
    for th in (1e3, 1e6, 1e9, 1e12, 1e15):
        v = m.model.objective(np.array([th]))
        assert not np.isnan(v) and v > -np.inf


# ---------------------------------------------------------------------------
# predictors on very different scales (lme4's check.scaleX)
# ---------------------------------------------------------------------------

def test_scale_warning_lme4_vignette_example(sleep):
    # lme4's autoscale vignette: var1 ~ U(1e6, 1e7) makes lmer warn
    rng = np.random.default_rng(1)
    d = sleep.assign(var1=rng.uniform(1e6, 1e7, len(sleep)))
    with pytest.warns(PredictorScaleWarning,
                      match="Some predictor variables are on very different scales: consider rescaling"
                            r" \(var1 \(sd 2.5\de\+06\), Days \(sd 2.88\)\)"):
        m = pymer.lmer("Reaction ~ var1 + Days + (Days | Subject)", d)
    assert np.all(np.isfinite(m.fixef.values))
    # ... and the fit is still right: same as with var1 rescaled
    m2 = quiet(pymer.lmer, "Reaction ~ v + Days + (Days | Subject)", d.assign(v=d["var1"] / 1e6))
    # REML: rescaling a column of X by c shifts log|R_X|^2 by 2 log(c)
    assert m.objective == pytest.approx(m2.objective + 2 * np.log(1e6), rel=1e-9)
    assert m.fixef["var1"] * 1e6 == pytest.approx(m2.fixef["v"], rel=1e-4)
    np.testing.assert_allclose(m.theta, m2.theta, rtol=1e-3)


def test_scale_check_rules():
    n = 30
    x = np.linspace(-1, 1, n)
    one = np.ones(n)
    ind = (np.arange(n) % 2).astype(float)
    assert check_scale_x(np.column_stack([one, x, ind]), ["(Intercept)", "x", "f1"]) == []
    # indicator columns and the intercept are left out whatever the others
    with pytest.warns(PredictorScaleWarning):
        assert check_scale_x(np.column_stack([one, 5000 * x, ind]), ["(Intercept)", "x", "f1"]) == ["x"]
    # one column with a tiny sd (lme4qtl's test: x = 0 except one 0.001)
    tiny = np.zeros(n)
    tiny[0] = 0.001
    with pytest.warns(PredictorScaleWarning, match=r"tiny \(sd 0.000183\)"):
        assert check_scale_x(np.column_stack([one, tiny]), ["(Intercept)", "tiny"]) == ["tiny"]
    # two columns each within [1e-3, 1e3] but 1e3+ apart
    with pytest.warns(PredictorScaleWarning):
        bad = check_scale_x(np.column_stack([0.01 * x, 20 * x ** 2]), ["a", "b"])
    assert sorted(bad) == ["a", "b"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_scale_x(np.column_stack([0.01 * x, 5 * x ** 2]), ["a", "b"]) == []


def _reference_X(entry):
    fun, formula, kw = parse_call(entry["call"])
    d = load_data(entry)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mf = parse_formula(formula, d)
        keep, _ = drop_aliased_columns(mf.X, mf.fixef_names)
    return mf.X[:, keep], [mf.fixef_names[i] for i in keep]


@pytest.mark.parametrize("file", ["lmm.json", "glmm.json"])
def test_scale_check_agrees_with_lme4_on_reference_models(file):
    # lme4 recorded its warnings for every reference model: none warned about scales
    refs = load_reference(file)
    for key, entry in refs.items():
        lme4_warned = any("very different scales" in w for w in entry.get("optimizer_warnings") or [])
        X, names = _reference_X(entry)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = check_scale_x(X, names)
        assert bool(ours) == lme4_warned, (key, ours)


# ---------------------------------------------------------------------------
# collinear predictors, failed convergence checks
# ---------------------------------------------------------------------------

def test_collinear_predictor_dropped_with_message(sleep):
    d = sleep.assign(Days2=2 * sleep["Days"])
    with pytest.warns(RankDeficiencyWarning, match=r"rank deficient so dropping 1 column / coefficient "
                                                   r"\(Days2\)"):
        m = pymer.lmer("Reaction ~ Days + Days2 + (Days | Subject)", d)
    assert list(m.fixef.index) == ["(Intercept)", "Days"]
    np.testing.assert_allclose(m.fixef.values, SLEEP_FIXEF, rtol=1e-6)


def test_zero_weight_rows_decide_aliasing(sleep):
    # x is distinct from Days only in rows of weight 0: among the rows that count it is aliased
    x = sleep["Days"].to_numpy(float).copy()
    w = np.ones(len(sleep))
    x[:5] += 1.0
    w[:5] = 0.0
    with pytest.warns(RankDeficiencyWarning, match=r"\(x\)"):
        m = pymer.lmer("Reaction ~ Days + x + (1 | Subject)", sleep.assign(x=x), weights=w)
    assert np.isfinite(m.objective) and list(m.fixef.index) == ["(Intercept)", "Days"]


def test_failed_convergence_check_warns_and_answers(sleep):
    with pytest.warns(ConvergenceWarning) as rec:
        m = pymer.lmer(F, sleep, control={"maxeval": 4})
    msgs = [str(r.message) for r in rec if issubclass(r.category, ConvergenceWarning)]
    assert any("convergence code 5" in s and "maxeval (4)" in s for s in msgs)
    assert any(s in m.messages for s in msgs)
    assert np.all(np.isfinite(m.fixef.values)) and np.isfinite(m.objective)
    assert "maxeval" in str(m.summary())


# ---------------------------------------------------------------------------
# very large and very small values
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("shift", [1e6, 1e9, 1e12])
def test_large_response_offset_keeps_digits(sleep, shift):
    m = quiet(pymer.lmer, "y ~ Days + (Days | Subject)", sleep.assign(y=sleep["Reaction"] + shift))
    np.testing.assert_allclose(m.theta, SLEEP_THETA, atol=2e-5 * max(1.0, shift / 1e9))
    assert m.sigma == pytest.approx(SLEEP_SIGMA, rel=1e-5 * max(1.0, shift / 1e9))
    assert m.fixef["Days"] == pytest.approx(SLEEP_FIXEF[1], rel=1e-5 * max(1.0, shift / 1e9))
    assert m.fixef["(Intercept)"] - shift == pytest.approx(SLEEP_FIXEF[0], abs=1e-4 * max(1.0, shift / 1e9))


@pytest.mark.parametrize("scale", [1e-150, 1e-8, 1e8, 1e150])
def test_extreme_response_scale(sleep, scale):
    m = quiet(pymer.lmer, "y ~ Days + (Days | Subject)", sleep.assign(y=sleep["Reaction"] * scale))
    np.testing.assert_allclose(m.theta, SLEEP_THETA, atol=1e-5)
    assert m.sigma == pytest.approx(SLEEP_SIGMA * scale, rel=1e-6)
    np.testing.assert_allclose(m.fixef.values, SLEEP_FIXEF * scale, rtol=1e-6)
    assert np.all(np.isfinite(m.vcov.values)) and np.isfinite(m.loglik)


def test_large_predictor_values(sleep):
    with pytest.warns(PredictorScaleWarning):
        m = pymer.lmer("Reaction ~ D + (Days | Subject)", sleep.assign(D=sleep["Days"] * 1e8))
    np.testing.assert_allclose(m.theta, SLEEP_THETA, atol=1e-4)
    assert m.fixef["D"] * 1e8 == pytest.approx(SLEEP_FIXEF[1], rel=1e-5)


# ---------------------------------------------------------------------------
# zero weights
# ---------------------------------------------------------------------------

def _zero_weight_data(sleep):
    w = 1.0 + (sleep["Days"].to_numpy() % 3)
    w[[3, 50, 51, 120]] = 0.0
    return sleep.assign(w=w)


def test_zero_weights_fit(sleep):
    d = _zero_weight_data(sleep)
    m = pymer.lmer(F, d, weights="w")
    assert m.nobs == 180
    assert np.isfinite(m.objective) and np.all(np.isfinite(m.fitted))
    # a zero-weight row does not move the fit: changing its response changes nothing
    d2 = d.copy()
    d2.loc[[3, 50], "Reaction"] += 1000.0
    m2 = pymer.lmer(F, d2, weights="w")
    assert m2.objective == pytest.approx(m.objective, rel=1e-10)
    np.testing.assert_allclose(m2.fixef.values, m.fixef.values, rtol=1e-7)
    np.testing.assert_allclose(m2.theta, m.theta, atol=1e-6)


@pytest.mark.parametrize("reml", [True, False])
def test_zero_weight_objective_is_the_limit_of_small_weights(sleep, reml):
    # with -sum(log w) over the positive weights only, w_i = 0 is the limit of w_i -> 0
    # once the divergent -log(w_i) is taken out
    d = _zero_weight_data(sleep)
    m0 = pymer.lmer(F, d, weights="w", REML=reml).model
    theta = np.array([0.8, 0.05, 0.3])
    for eps in (1e-6, 1e-9):
        w = d["w"].where(d["w"] > 0, eps)
        meps = quiet(pymer.lmer, F, d, weights=w.to_numpy(), REML=reml).model
        assert meps.objective(theta) + 4 * np.log(eps) == pytest.approx(m0.objective(theta), abs=1e-4)


def test_zero_weight_deviance_against_the_marginal_likelihood(sleep):
    # definition: y ~ N(X beta, sigma^2 (Z Lambda Lambda' Z' + W^-1)) over the positive-weight rows;
    # each zero-weight row adds log(2 pi sigma^2) (it counts in n, as in lme4)
    d = _zero_weight_data(sleep)
    m = pymer.lmer(F, d, weights="w", REML=False)
    w = d["w"].to_numpy()
    pos = w > 0
    Z = m.re.Z().toarray()[pos]
    Lam = m.re.Lambda(m.theta).toarray()
    X = m.model.X[pos]
    y = d["Reaction"].to_numpy()[pos]
    s2 = m.sigma ** 2
    V = s2 * (Z @ Lam @ Lam.T @ Z.T + np.diag(1.0 / w[pos]))
    r = y - X @ m.fixef.values
    sign, logdet = np.linalg.slogdet(V)
    dev_pos = pos.sum() * np.log(2 * np.pi) + logdet + r @ np.linalg.solve(V, r)
    k0 = int((~pos).sum())
    assert m.objective == pytest.approx(dev_pos + k0 * np.log(2 * np.pi * s2), rel=1e-9)


# ---------------------------------------------------------------------------
# names with dots, spaces, unicode
# ---------------------------------------------------------------------------

def test_backquoted_and_unicode_names(sleep):
    rng = np.random.default_rng(3)
    d = sleep.rename(columns={"Reaction": "reaction time", "Days": "days.since", "Subject": "sub ject"})
    d["größe"] = rng.normal(size=len(d))
    d["my x"] = rng.normal(size=len(d))
    before = copy.deepcopy(d)
    m = quiet(pymer.lmer, "`reaction time` ~ `days.since` + größe + `my x` + (`days.since` | `sub ject`)", d)
    pd.testing.assert_frame_equal(d, before)
    # R's names: syntactic names as they are, the others backquoted; groups without backquotes
    assert list(m.fixef.index) == ["(Intercept)", "days.since", "größe", "`my x`"]
    assert list(m.ranef) == ["sub ject"]
    assert list(m.ranef["sub ject"].columns) == ["(Intercept)", "days.since"]
    ref = quiet(pymer.lmer, "Reaction ~ Days + g + x + (Days | Subject)",
                sleep.assign(g=d["größe"], x=d["my x"]))
    np.testing.assert_allclose(m.fixef.values, ref.fixef.values, rtol=1e-8)
    np.testing.assert_allclose(m.predict(d.iloc[:5]), m.fitted[:5], rtol=1e-10)
    text = str(m.summary())
    assert "sub ject" in text and "größe" in text


# ---------------------------------------------------------------------------
# threads and long loops
# ---------------------------------------------------------------------------

def _thread_jobs():
    sleep = pymer.datasets.load("sleepstudy")
    pen = pymer.datasets.load("Penicillin")
    pastes = pymer.datasets.load("Pastes")
    rng = np.random.default_rng(7)
    jobs = []
    for i in range(6):
        d = sleep.assign(Reaction=sleep["Reaction"] + rng.normal(0, 20, len(sleep)))
        jobs.append(("Reaction ~ Days + (Days | Subject)", d, {"REML": i % 2 == 0}))
    jobs.append(("diameter ~ 1 + (1 | plate) + (1 | sample)", pen, {}))
    jobs.append(("strength ~ 1 + (1 | batch/cask)", pastes, {}))
    jobs.append(("Reaction ~ Days + (Days || Subject)", sleep, {"REML": False}))
    # a larger crossed model, so that the compiled (GIL-free) sections overlap
    n = 3000
    big = pd.DataFrame({"g": rng.integers(0, 300, n).astype(str), "h": rng.integers(0, 40, n).astype(str),
                        "x": rng.normal(size=n)})
    big["y"] = (big["x"] + rng.normal(size=300)[big["g"].astype(int)]
                + 0.5 * rng.normal(size=40)[big["h"].astype(int)] + rng.normal(size=n))
    jobs.append(("y ~ x + (x | g) + (1 | h)", big, {}))
    return jobs


def _summary(m):
    return np.concatenate([m.theta, m.fixef.values, [m.sigma, m.objective]])


def test_fits_in_threads_match_serial_fits():
    jobs = _thread_jobs() * 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        serial = [_summary(pymer.lmer(f, d, **kw)) for f, d, kw in jobs]
        with ThreadPoolExecutor(max_workers=8) as ex:
            threaded = list(ex.map(lambda job: _summary(pymer.lmer(job[0], job[1], **job[2])), jobs))
    for a, b in zip(serial, threaded):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc (Linux)")
def test_many_fits_do_not_grow_memory(sleep):
    d = sleep.iloc[:90]          # 9 subjects x 10 days, (Days | Subject): ~2 ms a fit

    def fit(i):
        m = pymer.lmer(F, d)
        m.ranef, m.vcov, m.predict(d.iloc[:3])
        if i % 20 == 0:
            m.summary()

    for i in range(100):         # warm-up: caches, allocator pools
        fit(i)
    start = rss_mb()
    for i in range(700):
        fit(i)
    grown = rss_mb() - start
    assert grown < 8.0, f"RSS grew by {grown:.1f} MB over 700 fits"
