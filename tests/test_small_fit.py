"""The small-model fast path (issue 17): the same answers by cheaper routes.

- lme4's convergence decisions from the compiled summary (:func:`convergence_summary`)
  equal the numpy computation they replace (Cholesky, scaled gradient, eigenvalues);
- the blocked factorization is chosen without CHOLMOD's symbolic analysis when its cost
  is within the cost model's allowance whatever CHOLMOD's (Penicillin, Pastes);
- lmer() checks its control settings once, and fits as model.fit(control=...) does.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import pymer
from pymer import validate
from pymer._core._convergence import (CONV_NO_FREE, CONV_NOT_FINITE, CONV_NOT_POSDEF, CONV_OK,
                                      convergence_summary)
from pymer._core._pls import PLS
from pymer.optimize import _conv_messages, check_convergence


def _numpy_messages(x, lower, g, H, tol_grad=2e-3, tol_hess=1e-6):
    """lme4's checkConv decisions computed with numpy (the code the summary replaced)."""
    free = ~(x <= lower)
    if not free.any():
        return []
    g, H = g[free], H[np.ix_(free, free)]
    if not (np.isfinite(g).all() and np.isfinite(H).all()):
        return ["Model failed to converge: non-finite gradient or Hessian at the optimum"]
    try:
        U = np.linalg.cholesky(H).T
        scgrad = np.linalg.solve(U, g)
    except np.linalg.LinAlgError:
        scgrad = None
    return _conv_messages(g, scgrad, np.linalg.eigvalsh(H), free, tol_grad, tol_hess)


def test_convergence_messages_equal_numpy_decisions():
    rng = np.random.default_rng(17)
    seen = set()
    for trial in range(400):
        m = int(rng.integers(1, 7))
        x = np.abs(rng.normal(size=m))
        lower = np.where(rng.random(m) < 0.6, 0.0, -np.inf)
        x[(rng.random(m) < 0.2) & np.isfinite(lower)] = 0.0
        A = rng.normal(size=(m, m))
        H = A @ A.T * 10.0 ** rng.integers(-8, 8)
        kind = trial % 8
        if kind == 1:
            H = -H
        elif kind == 2:
            H[0, 0] = np.nan
        elif kind == 3:
            H = np.diag(10.0 ** rng.uniform(-8, 8, size=m))
        elif kind == 4:
            H = H - np.eye(m) * np.linalg.eigvalsh(H)[m // 2]     # indefinite
        g = rng.normal(scale=10.0 ** rng.integers(-6, 1), size=m)
        got = check_convergence(None, x, lower, derivs=(g, H))[0]
        assert got == _numpy_messages(x, lower, g, H), (trial, x, lower, g, H)
        seen.update(got)
    # every message kind was exercised
    assert any("max|grad|" in s for s in seen)
    assert any("unable to evaluate scaled gradient" in s for s in seen)
    assert any("negative eigenvalues" in s for s in seen)
    assert any("numerically singular" in s for s in seen)
    assert any("very large eigenvalue" in s for s in seen)
    assert any("non-finite" in s for s in seen)


def test_convergence_summary_codes_and_numbers():
    H = np.array([[4.0, 1.0, 0.0], [1.0, 3.0, 0.0], [0.0, 0.0, 2.0]])
    g = np.array([0.1, -0.2, 0.3])
    free = np.array([True, True, False])
    code, gmax, comp, nneg, lo, hi = convergence_summary(g, H, free)
    assert code == CONV_OK and nneg == 0
    U = np.linalg.cholesky(H[:2, :2]).T
    mg = np.minimum(np.abs(np.linalg.solve(U, g[:2])), np.abs(g[:2]))
    assert gmax == pytest.approx(mg.max(), rel=1e-14) and comp == int(np.argmax(mg)) + 1
    ev = np.linalg.eigvalsh(H[:2, :2])
    assert (lo, hi) == pytest.approx((ev[0], ev[-1]), rel=1e-14)
    assert convergence_summary(g, H, np.zeros(3, bool))[0] == CONV_NO_FREE
    assert convergence_summary(g, -H, free)[:4:3] == (CONV_NOT_POSDEF, 2)
    assert convergence_summary(np.array([np.inf, 0, 0]), H, free)[0] == CONV_NOT_FINITE
    with pytest.raises(ValueError, match="differ in size"):
        convergence_summary(g, H[:2, :2], free)


@pytest.mark.parametrize("dataset, formula", [
    ("Penicillin", "diameter ~ 1 + (1|plate) + (1|sample)"),
    ("Pastes", "strength ~ 1 + (1|batch/cask)"),
])
def test_small_blocked_without_cholmod_analysis(dataset, formula):
    m = pymer.lmer(formula, pymer.datasets.load(dataset))
    core = m.model.core
    assert core.factorization == "blocked"
    assert np.isnan(core.cholmod_flops)          # CHOLMOD's analysis was not run
    # the same objective as the CHOLMOD factorization of the same model
    other = core.copy()
    other.choose_factorization("cholmod")
    assert not np.isnan(other.cholmod_flops)
    for th in (m.theta, m.theta * 0.5 + 0.1):
        assert other.objective(th, True) == pytest.approx(core.objective(th, True), rel=1e-12)


def test_blocked_choice_unchanged_beyond_the_allowance():
    # a second term with many levels: the cost model still compares with CHOLMOD's analysis
    rng = np.random.default_rng(3)
    n = 3000
    d = {"y": rng.normal(size=n), "g": rng.integers(0, 120, n).astype(str),
         "h": rng.integers(0, 400, n).astype(str)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = pymer.lmer("y ~ 1 + (1|g) + (1|h)", d)
    assert m.model.core.q - m.model.core.q1 == 120
    assert not np.isnan(m.model.core.cholmod_flops)


def test_lmer_checks_control_once(monkeypatch):
    d = pymer.datasets.load("sleepstudy")
    ctl = {"check_conv_singular": "ignore", "optCtrl": {"maxeval": 1000}}
    calls = []
    orig = validate.check_control

    def counted(*a, **k):
        calls.append(a)
        return orig(*a, **k)

    monkeypatch.setattr("pymer.lmm.check_control", counted)
    m = pymer.lmer("Reaction ~ Days + (Days | Subject)", d, control=ctl)
    assert len(calls) == 1
    monkeypatch.undo()
    checked = validate.check_control(ctl, fun="lmer")
    assert validate.check_control(checked, fun="lmer") == checked       # idempotent
    again = m.model.fit(control=ctl)
    assert again.objective == m.objective
    np.testing.assert_array_equal(again.theta, m.theta)


def test_model_lower_bounds_cached_read_only():
    m = pymer.lmer("Reaction ~ Days + (Days | Subject)", pymer.datasets.load("sleepstudy"))
    lower = m.model._theta_lower
    np.testing.assert_array_equal(lower, m.model.re.lower_bounds())
    assert lower is m.model._theta_lower
    with pytest.raises(ValueError):
        lower[0] = 1.0


def test_convergence_warning_unchanged_small_maxeval():
    d = pymer.datasets.load("sleepstudy")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        pymer.lmer("Reaction ~ Days + (Days | Subject)", d, control={"optCtrl": {"maxeval": 10}})
    text = [str(x.message) for x in w]
    assert any("maxeval (10) was reached" in t for t in text)
