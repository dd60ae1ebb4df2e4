"""The bootstrap's array path (pymer.inference.bootsim, bootrefit): responses simulated as
one array, LMM refits in one compiled loop with light results, GLMM refits on one working
copy of the model. Its replicates are those of the per-replicate path (simulate(1, seed),
refit, func) that it replaces."""
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

import pymer
from pymer.inference import bootrefit
from pymer.inference.bootsim import simulate_matrix
from pymer.results import LMMResult


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **k)


@pytest.fixture(scope="module")
def sleep():
    return _quiet(pymer.lmer, "Reaction ~ Days + (Days | Subject)", pymer.datasets.load("sleepstudy"))


@pytest.fixture(scope="module")
def cbpp():
    return _quiet(pymer.glmer, "cbind(incidence, size - incidence) ~ period + (1 | herd)",
                  pymer.datasets.load("cbpp"), family="binomial")


@pytest.fixture(scope="module")
def weighted():
    """Prior weights and an offset: the residualization and cross-products with weights."""
    d = pymer.datasets.load("sleepstudy").copy()
    rng = np.random.default_rng(3)
    d["w"] = rng.uniform(0.5, 2.0, len(d))
    d["off"] = 0.1 * d["Days"]
    return _quiet(pymer.lmer, "Reaction ~ Days + (1 | Subject)", d, weights="w", offset="off", REML=False)


def _per_replicate(res, func, nsim, seed, use_u=False):
    """The path the array path replaces: per replicate res.simulate(1, seed), res.refit, func;
    also whether each replicate warned."""
    vals, warned = [], []
    for s in np.random.SeedSequence(seed).spawn(nsim):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            y = np.asarray(res.simulate(1, seed=np.random.default_rng(s), use_u=use_u)).ravel()
            vals.append(np.asarray(func(res.refit(y)), dtype=float))
        warned.append(len(w) > 0)
    return np.array(vals), warned


def _lmm_stats(r):
    return np.r_[r.fixef.to_numpy(), r.theta, r.sigma, r.deviance, r.loglik,
                 np.sqrt(np.diag(r.vcov.to_numpy())), r.varcorr["sdcor"].to_numpy(dtype=float)]


# ---- simulation --------------------------------------------------------------------------

@pytest.mark.parametrize("use_u", [False, True])
def test_simulate_matrix_draws_what_simulate_draws(sleep, cbpp, use_u):
    for res in (sleep, cbpp):
        seeds = np.random.SeedSequence(11).spawn(4)
        Y = simulate_matrix(res, [np.random.default_rng(s) for s in seeds], use_u)
        for j, s in enumerate(seeds):
            one = res.simulate(1, seed=np.random.default_rng(s), use_u=use_u)["sim_1"].to_numpy()
            np.testing.assert_array_equal(Y[:, j], one)
    # several columns from one generator: each column drawn in turn, as before
    sims = cbpp.simulate(3, seed=4)
    rng = np.random.default_rng(4)
    for c in sims.columns:
        np.testing.assert_array_equal(sims[c].to_numpy(), simulate_matrix(cbpp, [rng])[:, 0])


def test_simulate_matrix_poisson():
    d = pymer.datasets.load("grouseticks")
    g = _quiet(pymer.glmer, "TICKS ~ YEAR + (1 | LOCATION)", d, family="poisson")
    seeds = np.random.SeedSequence(2).spawn(3)
    Y = simulate_matrix(g, [np.random.default_rng(s) for s in seeds])
    for j, s in enumerate(seeds):
        np.testing.assert_array_equal(Y[:, j], g.simulate(1, seed=np.random.default_rng(s))["sim_1"])
    assert np.all(Y == np.round(Y)) and Y.dtype == np.float64


# ---- LMM: the compiled loop --------------------------------------------------------------

def test_lmm_replicates_equal_the_per_replicate_path(sleep):
    b = sleep.bootstrap(_lmm_stats, nsim=15, seed=8, progress=False)
    old, warned = _per_replicate(sleep, _lmm_stats, 15, 8)
    np.testing.assert_allclose(b.t, old, rtol=1e-8, atol=1e-10)
    assert b.n_failed == 0 and b.n_warned == sum(warned)


def test_lmm_weights_offset_and_use_u(weighted):
    b = weighted.bootstrap(_lmm_stats, nsim=12, seed=1, use_u=True, progress=False)
    old, _ = _per_replicate(weighted, _lmm_stats, 12, 1, use_u=True)
    np.testing.assert_allclose(b.t, old, rtol=1e-8, atol=1e-10)
    assert isinstance(bootrefit.refitter(weighted), bootrefit.LmmRefits)


def test_lmm_singular_refits_warn_as_before():
    """Dyestuff2's fit is singular: refits warn (boundary fits) as the refits did."""
    m = _quiet(pymer.lmer, "Yield ~ 1 + (1 | Batch)", pymer.datasets.load("Dyestuff2"))
    func = lambda r: r.theta    # noqa: E731
    b = m.bootstrap(func, nsim=10, seed=4, progress=False)
    old, warned = _per_replicate(m, func, 10, 4)
    np.testing.assert_allclose(b.t, old, rtol=1e-8, atol=1e-10)
    assert b.n_warned == sum(warned) > 0


def test_light_fit_answers_as_the_full_refit(sleep):
    y = sleep.simulate(1, seed=21)["sim_1"].to_numpy()
    full = _quiet(sleep.refit, y)
    refits = bootrefit.refitter(sleep)
    refits.fit(y[:, None])
    light = _quiet(refits.result, 0)
    assert isinstance(light, LMMResult) and type(light).__name__ == "LMMResult"
    assert "model" not in light.__dict__            # nothing built for the fast statistics
    pd.testing.assert_series_equal(light.fixef, full.fixef, rtol=1e-10)
    np.testing.assert_allclose(light.theta, full.theta, rtol=1e-10)
    for attr in ("sigma", "deviance", "loglik", "aic", "bic", "objective", "df"):
        assert getattr(light, attr) == pytest.approx(getattr(full, attr), rel=1e-10), attr
    pd.testing.assert_frame_equal(light.vcov, full.vcov, rtol=1e-10)
    pd.testing.assert_frame_equal(light.varcorr, full.varcorr, rtol=1e-10)
    assert "model" not in light.__dict__
    # anything else builds the refitted model on first use
    np.testing.assert_allclose(light.fitted, full.fitted, rtol=1e-9)
    np.testing.assert_allclose(light.residuals(), full.residuals(), rtol=1e-7, atol=1e-9)
    pd.testing.assert_frame_equal(light.ranef["Subject"], full.ranef["Subject"], rtol=1e-8)
    np.testing.assert_allclose(light.condvar()["Subject"], full.condvar()["Subject"], rtol=1e-8)
    assert light.ml_deviance == pytest.approx(full.ml_deviance, rel=1e-10)
    assert light.model is not sleep.model and light.model.core is not sleep.model.core
    np.testing.assert_array_equal(light.model.y, y)
    assert str(light.summary()) == str(full.summary())
    # pickled as the result it stands for
    back = pickle.loads(pickle.dumps(light))
    assert type(back) is LMMResult
    np.testing.assert_allclose(back.fixef, full.fixef, rtol=1e-10)
    # the fitted model is left at its fit
    assert sleep.model.objective(sleep.theta) == pytest.approx(sleep.objective, rel=1e-12)


def test_lmm_bad_replicates_fail_alone(sleep):
    """A statistic that fails on some replicates: those are NaN, counted and warned about."""
    calls = []

    def func(r):
        calls.append(1)
        if len(calls) in (3, 5):          # t0 is call 1: replicates 2 and 4 fail
            raise ArithmeticError("no statistic")
        return r.fixef

    with pytest.warns(UserWarning, match="2 of 6 bootstrap replicates failed"):
        b = sleep.bootstrap(func, nsim=6, seed=2, progress=False)
    assert b.n_failed == 2 and np.isnan(b.t[[1, 3]]).all() and np.isfinite(b.t[[0, 2, 4, 5]]).all()
    assert "ArithmeticError" in b.errors[0]


def test_lmm_non_finite_response_fails_that_replicate(sleep):
    refits = bootrefit.refitter(sleep)
    Y = simulate_matrix(sleep, [np.random.default_rng(s) for s in range(3)])
    Y[5, 1] = np.nan
    refits.fit(Y)
    assert np.isfinite(_quiet(refits.result, 0).sigma) and np.isfinite(_quiet(refits.result, 2).sigma)
    with pytest.raises(ValueError, match="non-finite"):
        refits.result(1)


# ---- GLMM: one working copy ----------------------------------------------------------------

def _glmm_stats(r):
    return np.r_[r.fixef.to_numpy(), r.theta, r.deviance]


def test_glmm_replicates_equal_the_per_replicate_path(cbpp):
    """Started at the fit's beta (refit() starts at the GLM's fit to each response): the
    optimizer stops within its tolerances of the same optimum (lmer_many's tolerances)."""
    b = cbpp.bootstrap(_glmm_stats, nsim=12, seed=6, progress=False)
    old, warned = _per_replicate(cbpp, _glmm_stats, 12, 6)
    np.testing.assert_allclose(b.t[:, :4], old[:, :4], rtol=1e-6, atol=1e-7)      # fixef
    np.testing.assert_allclose(b.t[:, 4], old[:, 4], rtol=1e-5, atol=1e-6)        # theta
    np.testing.assert_allclose(b.t[:, 5], old[:, 5], rtol=1e-8)                   # deviance
    assert b.n_failed == 0 and b.n_warned == sum(warned)


def test_glmm_working_copy_reproduces_refit_exactly(cbpp):
    """From the GLM's start, as refit(), the working copy gives refit()'s answers."""
    refits = bootrefit.GlmmRefits(cbpp, warm_beta=False)
    seeds = np.random.SeedSequence(9).spawn(4)
    refits.fit(simulate_matrix(cbpp, [np.random.default_rng(s) for s in seeds]))
    fits = [_quiet(refits.result, j) for j in range(4)]
    for j, s in enumerate(seeds):
        y = cbpp.simulate(1, seed=np.random.default_rng(s))["sim_1"].to_numpy()
        ref = _quiet(cbpp.refit, y)
        np.testing.assert_allclose(_glmm_stats(fits[j]), _glmm_stats(ref), rtol=1e-10)
    # each replicate keeps its own response and PIRLS state; the fitted model its cores
    np.testing.assert_allclose(fits[0].fitted, _quiet(cbpp.refit, cbpp.simulate(
        1, seed=np.random.default_rng(seeds[0]))["sim_1"].to_numpy()).fitted, rtol=1e-8)
    assert fits[0].model.y is not fits[1].model.y
    assert fits[0].model.core_u is not cbpp.model.core_u
    assert cbpp.model.objective(np.r_[cbpp.theta, cbpp.beta]) == pytest.approx(cbpp.objective, rel=1e-9)


def test_glmm_set_response_checks_and_keeps_cores(cbpp):
    work = cbpp.model.with_response(cbpp.model.y)
    core = work.core_u
    work.set_response(cbpp.model.y, beta_start=cbpp.beta)
    assert work.core_u is core
    np.testing.assert_array_equal(work.beta_start, cbpp.beta)
    with pytest.raises(ValueError, match="one value per observation"):
        work.set_response(cbpp.model.y[:5])
    with pytest.raises(ValueError, match="non-finite"):
        work.set_response(np.full(cbpp.nobs, np.inf))


# ---- which path ----------------------------------------------------------------------------

def test_fits_with_their_own_refit_keep_it(sleep, cbpp):
    class MyResult(LMMResult):
        def refit(self, newresp, **kwargs):
            return LMMResult.refit(self, newresp, **kwargs)

    mine = object.__new__(MyResult)
    mine.__dict__.update(sleep.__dict__)
    assert isinstance(bootrefit.refitter(mine), bootrefit.EachRefits)
    assert isinstance(bootrefit.refitter(sleep), bootrefit.LmmRefits)
    assert isinstance(bootrefit.refitter(cbpp), bootrefit.GlmmRefits)
    b1 = mine.bootstrap(lambda r: r.fixef, nsim=4, seed=3, progress=False)
    b2 = sleep.bootstrap(lambda r: r.fixef, nsim=4, seed=3, progress=False)
    np.testing.assert_allclose(b1.t, b2.t, rtol=1e-8)


def test_lmm_with_python_optimizer_refits_each(sleep):
    m = _quiet(pymer.lmer, "Reaction ~ Days + (Days | Subject)", pymer.datasets.load("sleepstudy"),
               optimizer="lbfgsb")
    assert isinstance(bootrefit.refitter(m), bootrefit.EachRefits)
    b = m.bootstrap(lambda r: r.fixef, nsim=2, seed=1, progress=False)
    old, _ = _per_replicate(m, lambda r: r.fixef, 2, 1)
    np.testing.assert_allclose(b.t, old, rtol=1e-8)


def test_glmm_replicates_do_not_depend_on_the_chunks(cbpp):
    """Serial (one chunk) and two worker processes (one replicate per chunk): the same values."""
    b1 = cbpp.bootstrap(_glmm_stats, nsim=4, seed=12, progress=False)
    b2 = cbpp.bootstrap(_glmm_stats, nsim=4, seed=12, progress=False, n_jobs=2)
    np.testing.assert_array_equal(b1.t, b2.t)


def test_chunks_bound_the_simulated_values(sleep, monkeypatch):
    from pymer.inference import bootmer
    monkeypatch.setattr(bootmer, "_CHUNK_VALUES", 3 * sleep.nobs)
    assert bootmer._chunk_size(sleep) == 3
    b = sleep.bootstrap(lambda r: r.fixef, nsim=7, seed=1, progress=False)     # chunks 3, 3, 1
    monkeypatch.setattr(bootmer, "_CHUNK_VALUES", 10 ** 9)
    np.testing.assert_array_equal(b.t, sleep.bootstrap(lambda r: r.fixef, nsim=7, seed=1, progress=False).t)
