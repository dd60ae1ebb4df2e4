"""pymer.checking: DHARMa-style simulated residuals and their tests.

Exact checks of the PIT residuals on hand-made simulations, of each test statistic
against its formula and R (tests/reference/checking.json from checking.R: ks.test,
binom.test, lmtest's dwtest, ape's Moran.I, quantreg's rq, car's leveneTest), of the
simulations from fits of every family, of grouping, the figure and bad input.
"""
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import pymer
from pymer import families as F
from pymer.checking import HTest, SimulatedResiduals, create_dharma, simulate_residuals
from pymer.checking import tests as T
from pymer.checking.quantreg import rank_score_test, rq

from conftest import DATA, load_reference


@pytest.fixture(scope="module")
def ref():
    return load_reference("checking.json")


@pytest.fixture(scope="module")
def sleep():
    return pymer.lmer("Reaction ~ Days + (Days | Subject)", pymer.datasets.load("sleepstudy"))


@pytest.fixture(scope="module")
def cbpp_fit():
    return pymer.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                       pymer.datasets.load("cbpp"), family="binomial")


def with_residuals(res):
    """A SimulatedResiduals object whose scaled residuals are the given values."""
    r = create_dharma(np.tile(np.linspace(0, 1, 5), (len(res), 1)), np.zeros(len(res)))
    r.residuals = np.asarray(res, dtype=float)
    return r


# ---- PIT residuals on hand-made simulations ---------------------------------------

def test_pit_continuous_is_fraction_below():
    sims = np.array([[1.0, 2.0, 3.0, 4.0]] * 4)
    r = create_dharma(sims, [2.5, 0.0, 5.0, 3.5], seed=7)
    np.testing.assert_allclose(r.residuals, [0.5, 0.0, 1.0, 0.75], rtol=0, atol=0)
    assert not r.integer_response                  # 2.5 is not a whole number
    np.testing.assert_allclose(r.fitted, 2.5)


def test_pit_discrete_randomized_between_bounds():
    sims = np.array([[0, 0, 1, 1], [0, 1, 1, 2], [3, 3, 3, 3], [0, 1, 2, 3]], dtype=float)
    y = np.array([0, 1, 3, 5])
    r = create_dharma(sims, y, seed=42)
    u = np.random.default_rng(42).random(4)
    expected = np.array([0 + 0.5 * u[0], 0.25 + 0.5 * u[1], 0 + 1.0 * u[2], 1.0])
    np.testing.assert_allclose(r.residuals, expected, rtol=0, atol=1e-15)
    assert r.integer_response
    # the seed fixes the randomization; another seed moves only rows with ties
    again = create_dharma(sims, y, seed=42).residuals
    other = create_dharma(sims, y, seed=43).residuals
    np.testing.assert_array_equal(r.residuals, again)
    assert np.all(r.residuals[:3] != other[:3]) and r.residuals[3] == other[3] == 1.0


def test_pit_uniform_for_exchangeable_discrete_draws():
    rng = np.random.default_rng(3)
    mu = rng.uniform(0.2, 3, 4000)
    r = create_dharma(rng.poisson(mu[:, None], (4000, 200)), rng.poisson(mu), seed=1)
    assert stats.kstest(r.residuals, "uniform").pvalue > 1e-3


def test_integer_response_detection_and_fitted_default():
    sims = np.array([[0.5, 1.5], [1.0, 2.0]])
    r = create_dharma(sims, [1.0, 1.0])
    assert not r.integer_response
    np.testing.assert_allclose(r.fitted, [1.0, 1.5])
    assert create_dharma(np.round(sims), [1.0, 1.0]).integer_response


# ---- each test against its formula and against R ------------------------------------

def test_uniformity_matches_r_ks_test(ref):
    for c in ref["ks"]:
        h = with_residuals(c["x"]).test_uniformity(c["alternative"])
        assert h.statistic == pytest.approx(c["statistic"], rel=1e-12)
        assert h.p_value == pytest.approx(c["p_value"], rel=1e-9)
        x = np.sort(c["x"])
        n = x.size
        d_plus, d_minus = np.max(np.arange(1, n + 1) / n - x), np.max(x - np.arange(n) / n)
        direct = {"two.sided": max(d_plus, d_minus), "greater": d_plus, "less": d_minus}[c["alternative"]]
        assert h.statistic == pytest.approx(direct, rel=1e-12)


def test_outliers_binomial_matches_r_binom_test(ref):
    for c in ref["binom"]:
        k, n, p = int(c["k"]), int(c["n"]), c["p"]
        margin = "upper" if abs(p - 1 / 51) < 1e-12 else "both"
        n_sim = round(1 / p - 1) if margin == "upper" else round(2 / p - 1)
        res = np.full(n, 0.5)
        res[:k] = 1.0 if margin == "upper" else np.where(np.arange(k) % 2, 0.0, 1.0)
        h = T.outliers(res, n_sim, margin=margin, alternative=c["alternative"], type="binomial")
        assert h.statistic == k
        assert h.p_value == pytest.approx(c["p_value"], rel=1e-9)
        assert h.null_value["frequency of outliers"] == pytest.approx(p)


def test_durbin_watson_matches_r_dwtest(ref):
    for c in ref["dw"]:
        x = np.asarray(c["x"])
        h = with_residuals(x).test_temporal_autocorrelation(c["time"], c["alternative"])
        e = x[np.argsort(c["time"])] - x.mean()
        assert h.statistic == pytest.approx(np.sum(np.diff(e) ** 2) / np.sum(e ** 2), rel=1e-12)
        assert h.statistic == pytest.approx(c["statistic"], rel=1e-10)
        # exact (Imhof) for n < 100: R's pan algorithm agrees to about 1e-8
        assert h.p_value == pytest.approx(c["p_value"], rel=1e-6, abs=1e-8)


def test_durbin_watson_small_example_by_hand():
    e = np.array([1.0, 2.0, -1.0, -2.0])
    assert T.durbin_watson(e).statistic == pytest.approx((1 + 9 + 1) / 10)
    # under H0 the exact p-values of the two one-sided alternatives add up to 1
    assert T.durbin_watson(e, "greater").p_value + T.durbin_watson(e, "less").p_value == pytest.approx(1)


def test_moran_matches_r_ape(ref):
    for c in ref["moran"]:
        h = with_residuals(c["x"]).test_spatial_autocorrelation(c["cx"], c["cy"], c["alternative"])
        assert h.statistic == pytest.approx(c["observed"], rel=1e-10)
        assert h.estimate["expected"] == pytest.approx(c["expected"])
        assert h.estimate["sd"] == pytest.approx(c["sd"], rel=1e-10)
        assert h.p_value == pytest.approx(c["p_value"], rel=1e-9)


def test_moran_small_example_by_hand():
    # four points on a line at 0, 1, 2, 3: weights 1/d, row-standardized
    x = np.array([0.0, 1.0, 2.0, 3.0])
    r = np.array([0.1, 0.3, 0.6, 0.9])
    W = np.array([[0, 1, 1 / 2, 1 / 3], [1, 0, 1, 1 / 2], [1 / 2, 1, 0, 1], [1 / 3, 1 / 2, 1, 0]])
    W = W / W.sum(axis=1, keepdims=True)
    e = r - r.mean()
    I = 4 / W.sum() * (e @ W @ e) / (e @ e)
    assert T.moran(r, x, np.zeros(4)).statistic == pytest.approx(I, rel=1e-14)


def test_quantile_regression_matches_r_rq(ref):
    c = ref["rq"]
    X = np.column_stack([np.ones(len(c["x"])), c["x"]])
    for tau, coef in zip(c["taus"], c["coef"]):
        np.testing.assert_allclose(rq(X, c["y"], tau), coef, rtol=1e-8, atol=1e-10)


def test_quantile_rank_score_statistic_by_formula():
    rng = np.random.default_rng(5)
    x = rng.uniform(size=50)
    y = rng.uniform(size=50)
    X = np.column_stack([np.ones(50), x])
    stat, p = rank_score_test(X, y, 0.25, [0.25, 0.0])
    s = X.T @ (0.25 - (y < 0.25))
    assert stat == pytest.approx(s @ np.linalg.inv(X.T @ X) @ s / (0.25 * 0.75), rel=1e-12)
    assert p == pytest.approx(stats.chi2.sf(stat, 2))
    h = with_residuals(y).test_quantiles(predictor=x)
    assert list(h.table.index) == [0.25, 0.5, 0.75]
    assert h.p_value == pytest.approx(h.table["p_adjusted"].min())
    np.testing.assert_allclose(h.table["p_adjusted"], stats.false_discovery_control(h.table["p_value"]))


def test_quantiles_detect_a_trend():
    rng = np.random.default_rng(1)
    x = rng.uniform(size=300)
    res = np.clip(rng.uniform(size=300) * 0.6 + 0.4 * x, 0, 1)
    h = with_residuals(res).test_quantiles(predictor=x, rank=False)
    assert h.p_value < 1e-4 and (h.table["slope"] > 0.2).all()


def test_categorical_matches_r_levene(ref):
    c = ref["levene"]
    h = with_residuals(c["x"]).test_categorical(c["g"])
    assert h.statistic == pytest.approx(c["F"], rel=1e-10)
    assert h.p_value == pytest.approx(c["p_value"], rel=1e-9)
    x, g = np.asarray(c["x"]), np.asarray(c["g"])
    assert list(h.table.index) == ["a", "b", "c", "d"]
    p = [stats.kstest(x[g == k], "uniform").pvalue for k in "abcd"]
    np.testing.assert_allclose(h.table["p_value"], p, rtol=1e-10)
    # Holm's adjustment
    order = np.argsort(p)
    holm = np.minimum(1, np.maximum.accumulate((4 - np.arange(4)) * np.sort(p)))
    np.testing.assert_allclose(h.table["p_adjusted"].to_numpy()[order], holm)


def test_dispersion_and_zero_inflation_by_formula():
    rng = np.random.default_rng(2)
    sims = rng.poisson(2.0, (30, 40)).astype(float)
    y = rng.poisson(2.0, 30).astype(float)
    fitted = np.full(30, 2.0)
    r = create_dharma(sims, y, fitted=fitted)
    obs = np.var(y - 2, ddof=1)
    simv = np.var(sims - 2, axis=0, ddof=1)
    h = r.test_dispersion()
    assert h.statistic == pytest.approx(obs / simv.mean(), rel=1e-12)
    pg, pl = np.mean(simv >= obs), np.mean(simv <= obs)
    assert h.p_value == pytest.approx(min(1, 2 * min(pg, pl)))
    assert r.test_dispersion("greater").p_value == pytest.approx(pg)
    assert r.test_dispersion("less").p_value == pytest.approx(pl)
    z = r.test_zero_inflation()
    zs = (sims == 0).sum(axis=0)
    assert z.statistic == pytest.approx((y == 0).sum() / zs.mean())
    assert z.p_value == pytest.approx(min(1, 2 * min(np.mean(zs >= (y == 0).sum()), np.mean(zs <= (y == 0).sum()))))


def test_leave_one_out_outliers_by_hand():
    S = np.array([[1, 2, 3, 9], [5, 5, 1, 0], [2, 2, 2, 2]], dtype=float)
    # row 1: column 1 below the others, column 4 above; row 2: column 4 below, the two
    # 5s tie at the top (neither is above the other); row 3 all tied: none
    np.testing.assert_array_equal(T.leave_one_out_outliers(S, "both"), [1, 0, 0, 2])
    np.testing.assert_array_equal(T.leave_one_out_outliers(S, "upper"), [0, 0, 0, 1])
    np.testing.assert_array_equal(T.leave_one_out_outliers(S, "lower"), [1, 0, 0, 1])


def test_outliers_default_type_by_response():
    rng = np.random.default_rng(0)
    cont = create_dharma(rng.normal(size=(50, 20)), rng.normal(size=50))
    disc = create_dharma(rng.poisson(1, (50, 20)), rng.poisson(1, 50))
    assert cont.test_outliers().method.startswith("Exact binomial")
    assert disc.test_outliers().method.startswith("Bootstrap")
    assert disc.test_outliers(type="binomial").method.startswith("Exact binomial")


def test_htest_prints_as_r():
    h = T.uniformity(np.linspace(0.01, 0.99, 50) ** 1.3)
    text = repr(h)
    assert text.startswith("\n\tExact one-sample Kolmogorov-Smirnov test\n\ndata:  simulated residuals\nD = ")
    assert "alternative hypothesis: two.sided" in text
    h2 = HTest(3.0, 1e-20, "two.sided", "m", statistic_name="x")
    assert "x = 3, p-value < 2.2e-16" in repr(h2)
    assert isinstance(h, HTest) and h.alternative == "two.sided"


# ---- grouping ---------------------------------------------------------------------------

def test_group_sums_and_rescales():
    sims = np.arange(24, dtype=float).reshape(6, 4)
    y = np.array([1.0, 5.0, 9.0, 2.0, 20.0, 30.0])
    r = create_dharma(sims, y, seed=9)
    by = np.array(["b", "a", "b", "a", "c", "c"])
    g = r.group(by)
    assert list(g.groups) == ["a", "b", "c"]
    np.testing.assert_allclose(g.observed, [7.0, 10.0, 50.0])
    np.testing.assert_allclose(g.simulated[0], sims[1] + sims[3])
    np.testing.assert_allclose(g.fitted, [sims[[1, 3]].mean(1).sum(), sims[[0, 2]].mean(1).sum(),
                                          sims[[4, 5]].mean(1).sum()])
    expected = create_dharma(g.simulated, g.observed, seed=9).residuals
    np.testing.assert_allclose(g.residuals, expected)
    assert by.tolist() == ["b", "a", "b", "a", "c", "c"]


def test_group_of_fit_by_column(sleep):
    d = pymer.datasets.load("sleepstudy")
    r = simulate_residuals(sleep, n_sim=50)
    g = r.group(d["Subject"])
    assert g.residuals.shape == (18,) and g.simulated.shape == (18, 50)
    assert "18 groups" in repr(g)


# ---- simulations from fits ------------------------------------------------------------------

def _fits():
    cb = pymer.datasets.load("cbpp")
    cb["prop"] = cb["incidence"] / cb["size"]
    gt = pymer.datasets.load("grouseticks")
    return {
        "binomial_cbind": (lambda: pymer.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cb,
                                               family="binomial"), True),
        "binomial_weights": (lambda: pymer.glmer("prop ~ period + (1 | herd)", cb, family="binomial",
                                                 weights="size"), True),
        "poisson": (lambda: pymer.glmer("TICKS ~ YEAR + (1 | LOCATION)", gt, family="poisson"), True),
        "negative_binomial": (lambda: pymer.glmer_nb("TICKS ~ YEAR + (1 | LOCATION)", gt), True),
        "gamma": (lambda: pymer.glmer("y ~ x + trt + (1 | grp)", pd.read_csv(DATA / "gamma_sim.csv"),
                                      family=F.Gamma(link="log")), False),
        "inverse_gaussian": (lambda: pymer.glmer("y ~ x + (1 | grp)", pd.read_csv(DATA / "invgauss_sim.csv"),
                                                 family=F.InverseGaussian(link="log")), False),
        "gaussian_log": (lambda: pymer.glmer("y ~ x + (1 | grp)", pd.read_csv(DATA / "gaussian_log_sim.csv"),
                                             family=F.Gaussian(link="log")), False),
    }


@pytest.mark.parametrize("name", list(_fits()))
def test_every_family(name):
    make, discrete = _fits()[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = make()
    for cond in (True, False):
        r = simulate_residuals(m, n_sim=60, seed=5, conditional=cond)
        assert r.simulated.shape == (m.nobs, 60) and r.residuals.shape == (m.nobs,)
        assert np.all((r.residuals >= 0) & (r.residuals <= 1))
        assert r.integer_response is discrete
        for t in (r.test_uniformity(), r.test_dispersion(), r.test_zero_inflation(), r.test_outliers(),
                  r.test_quantiles()):
            assert 0 <= t.p_value <= 1 and np.isfinite(t.statistic) or t.statistic == np.inf
    if name == "binomial_cbind":
        trials = m.model.pw
        np.testing.assert_allclose(r.simulated * trials[:, None], np.round(r.simulated * trials[:, None]),
                                   atol=1e-9)
    if name in ("poisson", "negative_binomial"):
        assert np.all(r.simulated == np.round(r.simulated)) and np.all(r.simulated >= 0)


def test_conditional_simulations_centered_on_fitted_means():
    gt = pymer.datasets.load("grouseticks")
    m = pymer.glmer("TICKS ~ YEAR + (1 | LOCATION)", gt, family="poisson")
    r = simulate_residuals(m, n_sim=4000, seed=1)
    se = np.sqrt(m.fitted / 4000)
    assert np.max(np.abs(r.simulated.mean(axis=1) - m.fitted) / se) < 5
    np.testing.assert_allclose(r.fitted, m.fitted)


def test_unconditional_lmm_simulations_have_the_marginal_variance():
    d = pymer.datasets.load("Dyestuff")
    m = pymer.lmer("Yield ~ 1 + (1 | Batch)", d)
    r = simulate_residuals(m, n_sim=4000, seed=2, conditional=False)
    marginal = m.sigma ** 2 * (1 + m.theta[0] ** 2)
    v = r.simulated.var(axis=1)
    assert abs(v.mean() / marginal - 1) < 0.05
    # within a batch the simulated values share their random effect: covariance sigma^2 theta^2
    c = np.cov(r.simulated[0], r.simulated[1])[0, 1]
    assert c / (m.sigma ** 2 * m.theta[0] ** 2) == pytest.approx(1, abs=0.15)
    np.testing.assert_allclose(r.fitted, np.full(m.nobs, m.fixef.iloc[0]))
    rc = simulate_residuals(m, n_sim=4000, seed=2)
    assert abs(rc.simulated.var(axis=1).mean() / m.sigma ** 2 - 1) < 0.05


def test_same_seed_same_residuals(sleep):
    a = simulate_residuals(sleep, n_sim=30, seed=11)
    b = simulate_residuals(sleep, n_sim=30, seed=11)
    c = simulate_residuals(sleep, n_sim=30, seed=12)
    np.testing.assert_array_equal(a.residuals, b.residuals)
    assert not np.array_equal(a.residuals, c.residuals)


def test_refit_lmm_and_glmm(sleep, cbpp_fit):
    r = simulate_residuals(sleep, n_sim=12, seed=1, refit=True)
    assert r.refit and r.n_sim == 12
    y = sleep.model.y
    # the residuals compared: the observed residuals among the refits' residuals
    np.testing.assert_allclose(r._obs_cmp, y - sleep.fitted)
    first = sleep.refit(r.simulated[:, 0])
    np.testing.assert_allclose(r._sim_cmp[:, 0], r.simulated[:, 0] - first.fitted, atol=1e-8)
    d = r.test_dispersion()
    assert d.method.startswith("Parametric bootstrap")
    assert d.statistic == pytest.approx(np.sum(sleep.residuals("pearson") ** 2) / r._pearson[1].mean())
    g = simulate_residuals(cbpp_fit, n_sim=6, seed=1, refit=True)
    assert g.residuals.shape == (56,) and g.integer_response and np.all((g.residuals >= 0) & (g.residuals <= 1))


# ---- the figure -------------------------------------------------------------------------------

def test_plot_panels_and_annotations(sleep, tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from matplotlib.image import imread

    r = simulate_residuals(sleep, n_sim=100)
    fig = r.plot()
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2
    qq, rp = axes
    assert qq.get_title() == "QQ plot residuals"
    assert (qq.get_xlabel(), qq.get_ylabel()) == ("Expected", "Observed")
    texts = " ".join(t.get_text() for t in qq.texts)
    for name in ("KS test", "Dispersion test", "Outlier test"):
        assert name in texts
    assert f"p = {r.test_uniformity().p_value:.3g}" in texts
    pts = [ln for ln in qq.get_lines() if ln.get_marker() == "o"][0]
    np.testing.assert_allclose(pts.get_ydata(), np.sort(r.residuals))
    assert rp.get_title().startswith("Residual vs. predicted")
    assert rp.get_xlabel() == "Model predictions (rank transformed)"
    qlines = [ln for ln in rp.get_lines() if ln.get_label().startswith("quantile")]
    assert [ln.get_label() for ln in qlines] == ["quantile 0.25", "quantile 0.5", "quantile 0.75"]
    tab = r.test_quantiles().table
    for ln, (tau, row) in zip(qlines, tab.iterrows()):
        np.testing.assert_allclose(ln.get_ydata(), [row["intercept"], row["intercept"] + row["slope"]])
        assert (ln.get_color() == "red") == (row["p_value"] < 0.05)
    path = tmp_path / "dharma.png"
    fig.savefig(path, dpi=60)
    img = imread(path)
    assert img.shape[0] > 100 and img[..., :3].mean(axis=2).std() > 0.05


def test_plot_highlights_deviating_quantiles():
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(4)
    n = 400
    mu = np.linspace(1, 10, n)
    # the observed spread grows faster than the simulated: quantile lines fan out
    sims = rng.normal(mu[:, None], 1.0, (n, 100))
    y = rng.normal(mu, 0.2 + 2.5 * np.linspace(0, 1, n))
    r = create_dharma(sims, y, fitted=mu)
    rp = r.plot().axes[1]
    colors = {ln.get_label(): ln.get_color() for ln in rp.get_lines() if ln.get_label().startswith("quantile")}
    assert colors["quantile 0.25"] == "red" and colors["quantile 0.75"] == "red"
    assert "Quantile deviations detected" in rp.get_title()


# ---- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("n_sim", [0, -3, 1, 2.5, True, "10", None])
def test_n_sim_must_be_a_positive_integer(sleep, n_sim):
    with pytest.raises(ValueError, match="n_sim must be an integer >= 2"):
        simulate_residuals(sleep, n_sim=n_sim)


@pytest.mark.parametrize("obj", [pd.DataFrame({"y": [1, 2]}), "Reaction ~ Days", None, pymer.lmer])
def test_not_a_fitted_model(obj):
    with pytest.raises(TypeError, match="needs a fitted pymer model"):
        simulate_residuals(obj)


def test_unfitted_model_object():
    d = pymer.datasets.load("sleepstudy")
    from pymer.formula import parse_formula
    model = pymer.LinearMixedModel(parse_formula("Reaction ~ Days + (1 | Subject)", d))
    with pytest.raises(TypeError, match="LinearMixedModel"):
        simulate_residuals(model)


def test_bad_arguments_name_the_culprit(sleep):
    d = pymer.datasets.load("sleepstudy")
    before = d.copy()
    r = simulate_residuals(sleep, n_sim=20)
    with pytest.raises(ValueError, match="by has 179 values; the residuals have 180"):
        r.group(d["Subject"].iloc[:-1])
    with pytest.raises(TypeError, match="pass the column itself"):
        r.group("Subject")
    with pytest.raises(ValueError, match="by has missing values"):
        r.group(d["Subject"].where(d.index != 3))
    with pytest.raises(ValueError, match="time has repeated values"):
        r.test_temporal_autocorrelation(d["Days"])
    with pytest.raises(ValueError, match="time has 10 values"):
        r.test_temporal_autocorrelation(np.arange(10))
    with pytest.raises(ValueError, match="time has missing"):
        r.test_temporal_autocorrelation(np.r_[np.nan, np.arange(179)])
    with pytest.raises(ValueError, match="share a position"):
        r.test_spatial_autocorrelation(d["Days"], np.zeros(180))
    with pytest.raises(ValueError, match="single level"):
        r.test_categorical(np.zeros(180))
    with pytest.raises(ValueError, match="alternative must be"):
        r.test_dispersion("bigger")
    with pytest.raises(ValueError, match="margin must be"):
        r.test_outliers(margin="top")
    with pytest.raises(ValueError, match="type must be"):
        r.test_outliers(type="exact")
    with pytest.raises(ValueError, match="quantiles must lie strictly between 0 and 1"):
        r.test_quantiles(quantiles=[0.5, 1.0])
    with pytest.raises(ValueError, match="predictor has 3 values"):
        r.test_quantiles(predictor=[1, 2, 3])
    with pytest.raises(ValueError, match="seed must be"):
        simulate_residuals(sleep, n_sim=5, seed=-1)
    with pytest.raises(TypeError, match="refit must be True or False"):
        simulate_residuals(sleep, n_sim=5, refit="yes")
    pd.testing.assert_frame_equal(d, before)


def test_create_dharma_bad_shapes():
    with pytest.raises(ValueError, match="one row per observation"):
        create_dharma(np.zeros((3, 4)), np.zeros(5))
    with pytest.raises(ValueError, match="n_sim must be"):
        create_dharma(np.zeros((3, 1)), np.zeros(3))
    with pytest.raises(ValueError, match="finite"):
        create_dharma(np.array([[0.0, np.nan], [1.0, 2.0]]), np.zeros(2))
    with pytest.raises(ValueError, match="fitted has 1 values"):
        create_dharma(np.zeros((2, 3)), np.zeros(2), fitted=[1.0])


def test_simulated_residuals_is_the_result_type(sleep):
    r = simulate_residuals(sleep, n_sim=10)
    assert isinstance(r, SimulatedResiduals)
    assert pymer.simulate_residuals is simulate_residuals
    assert "180 observations, 10 simulations given the fitted random effects" in repr(r)


def test_constant_predictor_tests_the_intercepts():
    rng = np.random.default_rng(8)
    r = create_dharma(rng.normal(size=(40, 50)), rng.normal(size=40), fitted=np.zeros(40))
    h = r.test_quantiles()
    assert (h.table["slope"] == 0).all()
    for tau, row in h.table.iterrows():
        psi = tau - (r.residuals < tau)
        stat = psi.sum() ** 2 / (40 * tau * (1 - tau))
        assert row["statistic"] == pytest.approx(stat) and row["p_value"] == pytest.approx(stats.chi2.sf(stat, 1))
    assert len(r.plot().axes) == 2


def test_zero_weights_are_named():
    d = pymer.datasets.load("sleepstudy")
    w = np.ones(len(d))
    w[[4, 9]] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = pymer.lmer("Reaction ~ Days + (1 | Subject)", d, weights=w)
    with pytest.raises(ValueError, match="2 observations have 0 \\(rows 5, 10\\)"):
        simulate_residuals(m, n_sim=10)


def test_failed_refits_are_left_out_with_a_warning(sleep, monkeypatch):
    calls = {"n": 0}
    real = sleep.refit

    def flaky(y, **kw):
        calls["n"] += 1
        if calls["n"] % 3 == 0:
            raise ValueError("simulated failure")
        return real(y, **kw)

    monkeypatch.setattr(sleep, "refit", flaky)
    with pytest.warns(RuntimeWarning, match="3 of 9 refits to simulated responses failed.*simulated failure"):
        r = simulate_residuals(sleep, n_sim=9, seed=3, refit=True)
    assert r.n_sim == 6 and r.simulated.shape == (180, 6)
    monkeypatch.setattr(sleep, "refit", lambda y, **kw: (_ for _ in ()).throw(ValueError("never")))
    with pytest.raises(RuntimeError, match="fewer than 2 refits"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        simulate_residuals(sleep, n_sim=4, refit=True)


def test_temporal_autocorrelation_accepts_dates():
    res = np.random.default_rng(1).uniform(size=30)
    days = pd.date_range("2024-01-01", periods=30, freq="D")[::-1]
    h = with_residuals(res).test_temporal_autocorrelation(days)
    assert h.statistic == pytest.approx(T.durbin_watson(res[::-1]).statistic)
    with pytest.raises(ValueError, match="time must be numeric"):
        with_residuals(res).test_temporal_autocorrelation(["a"] * 30)


def test_unconditional_glmm_random_effects_on_lme4s_scale(ref):
    """A gaussian(log) GLMM: new random effects b = Lambda(theta) u (not sigma Lambda u),
    as lme4's simulate(re.form = NA); moments of 20000 draws against R's."""
    c = ref["gaussian_log_sim"]
    d = pd.read_csv(DATA / "gaussian_log_sim.csv")
    m = pymer.glmer("y ~ x + (1 | grp)", d, family=F.Gaussian(link="log"))
    assert m.theta[0] == pytest.approx(c["theta"], rel=1e-3)
    i, j, k = (r - 1 for r in c["rows"])
    s = simulate_residuals(m, n_sim=20000, seed=4, conditional=False).simulated
    assert np.cov(s[i], s[j])[0, 1] == pytest.approx(c["cov12"], rel=0.1)
    assert s[i].var() == pytest.approx(c["var1"], rel=0.1)
    assert abs(np.cov(s[i], s[k])[0, 1]) < 0.1


def test_conditional_draws_have_the_family_variance():
    """Given the random effects: Gamma variance sigma^2 mu^2 / w, inverse Gaussian
    sigma^2 mu^3 / w, gaussian sigma^2 / w (the families' variance functions)."""
    from pymer.checking.simulate import draw_response, model_parts

    cases = [("gamma_sim.csv", "y ~ x + trt + (1 | grp)", F.Gamma(link="log"), 2),
             ("invgauss_sim.csv", "y ~ x + (1 | grp)", F.InverseGaussian(link="log"), 3),
             ("gaussian_log_sim.csv", "y ~ x + (1 | grp)", F.Gaussian(link="log"), 0)]
    for csv, formula, fam, power in cases:
        m = pymer.glmer(formula, pd.read_csv(DATA / csv), family=fam)
        parts = model_parts(m)
        mu = parts.fitted[:5]
        parts.weights = np.full(5, 2.0)            # five rows, prior weight 2
        draws = draw_response(parts, np.repeat(mu[:, None], 40000, axis=1), np.random.default_rng(1))
        np.testing.assert_allclose(draws.mean(axis=1), mu, rtol=0.03)
        np.testing.assert_allclose(draws.var(axis=1), m.sigma ** 2 * mu ** power / 2.0, rtol=0.08)
