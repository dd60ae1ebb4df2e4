"""The two factorizations of the PLS core (blocked dense-Schur and CHOLMOD) give the same
objective, solves and fixed-effects factor, on every LMM of the lme4 reference set and on
random crossed designs; "auto" picks blocked where the first term is block diagonal."""
import warnings

import numpy as np
import pandas as pd
import pytest

import pymer
from pymer.formula import parse_formula
from pymer.lmm import LinearMixedModel

from conftest import load_reference
from refmodels import load_data, parse_call

REFS = load_reference("lmm.json")
SMALL = sorted(k for k, v in REFS.items() if v["nobs"] < 20000)


def _model(entry):
    fun, formula, kw = parse_call(entry["call"])
    d = load_data(entry)
    args = {k: kw[k] for k in ("weights", "offset") if k in kw}
    mf = parse_formula(formula, d, **args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LinearMixedModel(mf, REML=kw.get("REML", "TRUE") == "TRUE")


def _state(core, theta, reml):
    obj = core.objective(theta, reml)
    rng = np.random.default_rng(1)
    B = rng.standard_normal((core.q, 3))
    return dict(obj=obj, logdetL=core.logdetL, pwrss=core.pwrss, RX=core.RX,
                A=core.solve_A(B), u=core.solve_u(np.zeros(core.p) + core.beta0))


def _compare(model, thetas):
    core = model.core
    for theta in thetas:
        core.choose_factorization("cholmod")
        ref = _state(core, theta, model.REML)
        core.choose_factorization("blocked")
        assert core.factorization == "blocked"
        got = _state(core, theta, model.REML)
        assert got["obj"] == pytest.approx(ref["obj"], rel=1e-11, abs=1e-9)
        assert got["logdetL"] == pytest.approx(ref["logdetL"], rel=1e-10, abs=1e-9)
        assert got["pwrss"] == pytest.approx(ref["pwrss"], rel=1e-9)
        np.testing.assert_allclose(np.abs(got["RX"]), np.abs(ref["RX"]), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(got["A"], ref["A"], rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(got["u"], ref["u"], rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("key", SMALL)
def test_blocked_equals_cholmod_on_lme4_models(key):
    entry = REFS[key]
    model = _model(entry)
    rng = np.random.default_rng(7)
    lower = model.re.lower_bounds()
    theta_ref = np.asarray(entry["theta"], dtype=float).reshape(-1)
    rand = np.where(np.isfinite(lower) & (lower == 0), rng.uniform(0.05, 2.0, lower.size),
                    rng.uniform(-1.0, 1.0, lower.size))
    _compare(model, [theta_ref, rand, model.re.theta_start()])


@pytest.mark.parametrize("seed,k", [(0, 1), (1, 2), (2, 3)])
def test_blocked_equals_cholmod_random_crossed(seed, k):
    rng = np.random.default_rng(seed)
    n = 600
    d = pd.DataFrame({"g": rng.integers(0, 60, n).astype(str), "h": rng.integers(0, 25, n).astype(str),
                      "j": rng.integers(0, 4, n).astype(str), "x": rng.standard_normal(n),
                      "y": rng.standard_normal(n)})
    slope = " + x" if k >= 2 else ""
    f = f"y ~ x + (1{slope} | g) + (1 | h) + (1 | j)" if k < 3 else "y ~ x + (x | g) + (x | h) + (1 | g:h)"
    model = LinearMixedModel(parse_formula(f, d), REML=True)
    lower = model.re.lower_bounds()
    thetas = [np.where(lower == 0, rng.uniform(0.1, 1.5, lower.size), rng.uniform(-0.5, 0.5, lower.size))
              for _ in range(3)]
    _compare(model, thetas)


def test_auto_prefers_blocked_and_falls_back():
    sleep = pymer.datasets.load("sleepstudy")
    m = LinearMixedModel(parse_formula("Reaction ~ Days + (Days | Subject)", sleep))
    assert m.core.factorization == "blocked" and m.core.q2 == 0
    with pytest.raises(ValueError, match="method must be"):
        m.core.choose_factorization("dense")


def test_fit_identical_either_way():
    pen = pymer.datasets.load("Penicillin")
    fits = {}
    for method in ("blocked", "cholmod"):
        mf = parse_formula("diameter ~ 1 + (1 | plate) + (1 | sample)", pen)
        model = LinearMixedModel(mf)
        model.core.choose_factorization(method)
        fits[method] = model.fit()
    assert fits["blocked"].objective == pytest.approx(fits["cholmod"].objective, rel=1e-10)
    np.testing.assert_allclose(fits["blocked"].theta, fits["cholmod"].theta, rtol=1e-6)
    for g in ("plate", "sample"):
        np.testing.assert_allclose(fits["blocked"].ranef[g].values, fits["cholmod"].ranef[g].values,
                                   rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(fits["blocked"].condvar()[g], fits["cholmod"].condvar()[g], rtol=1e-6)


def test_auto_uses_cholmod_for_deep_nesting_and_blocked_for_crossed():
    rng = np.random.default_rng(3)
    n = 2400
    inner = rng.integers(0, 800, n)
    d = pd.DataFrame({"a": (inner // 4).astype(str), "b": (inner // 12).astype(str),
                      "c": inner.astype(str), "y": rng.standard_normal(n)})
    nested = LinearMixedModel(parse_formula("y ~ 1 + (1 | c) + (1 | a) + (1 | b)", d))
    assert nested.core.factorization == "cholmod"        # Schur block stays sparse: CHOLMOD
    d["h"] = rng.integers(0, 150, n).astype(str)
    crossed = LinearMixedModel(parse_formula("y ~ 1 + (1 | c) + (1 | h)", d))
    assert crossed.core.factorization == "blocked"
