"""The compiled optimizer loop (pymer._core._optim.LmmObjective) against the Python one
(pymer.optimize.minimize through the nlopt package, check_boundary, numdiff): the same
evaluations, the same optimum to the bit, the same derivatives; lmer fits, refits and
lmer_many use it."""
import warnings

import numpy as np
import pytest

import pymer
from pymer._core._optim import LmmObjective, START_NOT_FINITE, nlopt_version, raise_for_status
from pymer.errors import PymerDataError
from pymer.numdiff import finite_diff_derivs
from pymer.optimize import check_boundary, check_convergence, check_convergence_many, minimize

CASES = [
    ("Reaction ~ Days + (Days | Subject)", "sleepstudy", True),
    ("Reaction ~ Days + (Days | Subject)", "sleepstudy", False),
    ("diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin", True),
    ("strength ~ 1 + (1 | batch/cask)", "Pastes", False),
    ("Yield ~ 1 + (1 | Batch)", "Dyestuff2", True),          # singular: theta on its bound
]


def _model(formula, data, reml):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pymer.lmer(formula, pymer.datasets.load(data), REML=reml).model


def test_linked_nlopt_has_the_c_api():
    assert nlopt_version() >= (2, 4, 0)


@pytest.mark.parametrize("formula,data,reml", CASES)
@pytest.mark.parametrize("optimizer", ["bobyqa", "nelder_mead"])
def test_same_evaluations_and_optimum_as_the_nlopt_package(formula, data, reml, optimizer):
    model = _model(formula, data, reml)
    lower = model.re.lower_bounds()
    for x0, step in [model.start_theta(), (model.re.theta_start(), None)]:
        py = minimize(model.objective, x0, lower, optimizer=optimizer, initial_step=step)
        obj = LmmObjective(model.core, model.REML, model.log_w, lower, optimizer=optimizer)
        x, fx, nevals, status = obj.minimize(x0, step)
        assert nevals == py.nevals
        assert status == py.status
        np.testing.assert_array_equal(x, py.x)
        assert fx == py.fun


@pytest.mark.parametrize("formula,data,reml", CASES)
def test_fit_equals_the_python_path(formula, data, reml):
    """LmmObjective.fit = start check, minimize, check_boundary (restart_edge) and
    finite_diff_derivs from Python, to the bit."""
    model = _model(formula, data, reml)
    lower = model.re.lower_bounds()
    x0, step = model.start_theta()
    ctl = pymer.validate.check_control(None, fun="lmer")
    opt_py, (g_py, H_py) = model._optimize_python("bobyqa", np.asarray(x0), step, lower, ctl, True)
    obj = LmmObjective(model.core, model.REML, model.log_w, lower)
    x, fx, nevals, status, g, H = obj.fit(x0, step)
    np.testing.assert_array_equal(x, opt_py.x)
    assert fx == opt_py.fun and nevals == opt_py.nevals and status == opt_py.status
    np.testing.assert_array_equal(g, g_py)
    np.testing.assert_array_equal(H, H_py)
    g2, H2 = finite_diff_derivs(model.objective, x, lower)
    np.testing.assert_array_equal(obj.derivatives(x)[0], g2)
    np.testing.assert_array_equal(obj.derivatives(x, fx)[1], H2)
    assert obj(x) == model.objective(x)


def test_boundary_snap_and_restart_as_check_boundary():
    model = _model("Yield ~ 1 + (1 | Batch)", "Dyestuff2", True)
    lower = model.re.lower_bounds()
    obj = LmmObjective(model.core, True, 0.0, lower)
    # start on the bound: the nudge off it does not lower the objective, no restart
    x, fx, nevals, status, g, H = obj.fit(np.zeros(1), None)
    x_py, f_py, rerun = check_boundary(model.objective, np.zeros(1), model.objective(np.zeros(1)), lower,
                                       restart=lambda y: minimize(model.objective, y, lower))
    assert rerun is None
    np.testing.assert_array_equal(x, x_py)
    # a fit of Dyestuff (not singular) started on the bound moves off it
    model = _model("Yield ~ 1 + (1 | Batch)", "Dyestuff", True)
    obj = LmmObjective(model.core, True, 0.0, model.re.lower_bounds())
    x, fx, nevals, status, g, H = obj.fit(np.zeros(1), None)
    assert x[0] > 0.5 and fx < model.objective(np.zeros(1))


def test_lmer_uses_the_compiled_loop_and_lbfgsb_the_python_one(monkeypatch):
    import pymer.lmm as plmm

    called = []
    orig = plmm.minimize
    monkeypatch.setattr(plmm, "minimize", lambda *a, **k: called.append(1) or orig(*a, **k))
    d = pymer.datasets.load("sleepstudy")
    m = pymer.lmer("Reaction ~ Days + (Days | Subject)", d)
    assert not called and m.opt.nevals == 43 and m.opt.optimizer == "bobyqa"
    r = m.refit(m.simulate(1, seed=1).iloc[:, 0].to_numpy())
    assert not called and r.opt.nevals > 0
    m2 = pymer.lmer("Reaction ~ Days + (Days | Subject)", d, optimizer="lbfgsb")
    assert called and m2.objective == pytest.approx(m.objective, rel=1e-6)


def test_maxeval_message_and_status():
    d = pymer.datasets.load("sleepstudy")
    with pytest.warns(pymer.errors.ConvergenceWarning, match="maxeval \\(10\\) was reached"):
        m = pymer.lmer("Reaction ~ Days + (Days | Subject)", d, control={"optCtrl": {"maxeval": 10}})
    assert m.opt.nevals == 10 and m.opt.status == 5


def test_bad_arguments_are_named():
    model = _model("Reaction ~ Days + (Days | Subject)", "sleepstudy", True)
    lower = model.re.lower_bounds()
    with pytest.raises(ValueError, match="not 'lbfgsb'"):
        LmmObjective(model.core, True, 0.0, lower, optimizer="lbfgsb")
    with pytest.raises(ValueError, match="2 bounds for a core with 3 theta"):
        LmmObjective(model.core, True, 0.0, lower[:2])
    obj = LmmObjective(model.core, True, 0.0, lower)
    with pytest.raises(ValueError, match="theta must have length 3"):
        obj.minimize([1.0, 0.0])
    with pytest.raises(RuntimeError, match="nlopt failure"):
        raise_for_status(-1)
    raise_for_status(-4)            # roundoff: a result, not an error


def test_not_finite_at_the_start_is_a_pymer_error():
    model = _model("Reaction ~ Days + (Days | Subject)", "sleepstudy", True)
    obj = LmmObjective(model.core, True, 0.0, model.re.lower_bounds())
    assert obj.fit(np.array([np.nan, 0.0, 1.0])) is None
    ZtXy = np.asarray(model.core.ZtXy)
    out = obj.fit_responses(ZtXy[:, -1:], np.asarray(model.core.XytXy)[:-1, -1:], [np.nan],
                            np.ones((1, 3)), np.full((1, 3), np.nan))
    assert out["code"][0] == START_NOT_FINITE


def test_fit_responses_equals_one_fit_per_response(monkeypatch):
    """lmer_many's compiled loop against its per-response model.fit path (the optimizer
    in Python: the pre-compiled lmer_many) on the same cross-products, and pymer.lmer."""
    import pymer.many as pmany

    d = pymer.datasets.load("sleepstudy")
    rng = np.random.default_rng(3)
    Y = d["Reaction"].to_numpy()[:, None] + rng.normal(0, 20, (len(d), 4))
    Y[:, 3] = rng.normal(size=len(d))                   # no subject effect: a singular fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = pymer.lmer_many("~ Days + (Days | Subject)", Y, d)
        monkeypatch.setattr(pmany._SharedModel, "_compiled_objective", lambda self, *a: None)
        each = pymer.lmer_many("~ Days + (Days | Subject)", Y, d)
        monkeypatch.undo()
        for j in range(Y.shape[1]):
            assert fits.objective.iloc[j] == each.objective.iloc[j]
            np.testing.assert_array_equal(fits.theta.iloc[j].to_numpy(), each.theta.iloc[j].to_numpy())
            assert fits._table["opt"][j] == each._table["opt"][j]
            assert fits.messages.iloc[j] == each.messages.iloc[j]
            for tab in ("fixef", "std_error", "varcorr"):
                np.testing.assert_allclose(getattr(fits, tab).iloc[j].to_numpy(),
                                           getattr(each, tab).iloc[j].to_numpy(), rtol=1e-12)
            m = pymer.lmer("y ~ Days + (Days | Subject)", d.assign(y=Y[:, j]))
            assert fits.objective.iloc[j] == pytest.approx(m.objective, rel=1e-10)
            np.testing.assert_allclose(fits.theta.iloc[j].to_numpy(), m.theta, atol=1e-5)   # optimizer tolerance
            assert bool(fits.singular.iloc[j]) == m.is_singular
    assert fits.singular.iloc[3] and not fits.singular.iloc[0]


def test_check_convergence_many_equals_one_at_a_time():
    rng = np.random.default_rng(0)
    R, m = 40, 3
    x = np.abs(rng.normal(size=(R, m)))
    x[::4, 0] = 0.0                                    # on the bound: left out
    lower = np.array([0.0, -np.inf, 0.0])
    A = rng.normal(size=(R, m, m))
    H = A @ np.swapaxes(A, 1, 2) * 100
    H[5] = -H[5]                                       # not positive definite
    H[7, 0, 0] = np.inf                                # not finite
    H[9] = np.diag([1e7, 1.0, 1.0])                    # very large eigenvalue
    g = rng.normal(scale=0.01, size=(R, m))
    many = check_convergence_many(x, lower, g, H)
    for j in range(R):
        assert many[j] == check_convergence(None, x[j], lower, derivs=(g[j], H[j]))[0]
    assert any(many) and not all(many)


@pytest.mark.parametrize("formula, data, reml", CASES)
def test_derivatives_on_two_threads_equal_one_thread_to_the_bit(formula, data, reml):
    """The finite differences' points on two threads (a copy of the core on the second:
    parallel_min 0) give the values, hence the gradient and Hessian, of one thread;
    Dyestuff2's theta sits on its bound (one-sided differences)."""
    model = _model(formula, data, reml)
    lower = model._theta_lower
    x = np.maximum(np.asarray(pymer.lmer(formula, pymer.datasets.load(data), REML=reml).theta), lower) \
        if data != "Dyestuff2" else lower + 5e-5
    got = {}
    for par in (np.inf, 0.0):
        obj = LmmObjective(model.core, reml, model.log_w, lower)
        obj.parallel_min = par
        got[par] = obj.derivatives(x)
    for a, b in zip(got[np.inf], got[0.0]):
        assert np.array_equal(a, b)
    assert np.all(np.isfinite(got[0.0][1]))


@pytest.mark.parametrize("formula, data, reml", CASES)
def test_first_points_evaluated_ahead_give_the_same_fit_to_the_bit(formula, data, reml):
    """With parallel_min 0, BOBYQA's first 2m + 1 points are recorded by a dry run and
    evaluated before it asks (two threads when more than two): the same evaluations,
    optimum, status and derivatives as without; the optimizer's own calls then evaluate
    all but those points. Without, only the start (evaluated by the start check) is not
    evaluated again (Dyestuff2's m = 1: no dry run; its start is moved by BOBYQA)."""
    model = _model(formula, data, reml)
    lower = model._theta_lower
    x0, step = model.start_theta()
    got = {}
    for par in (np.inf, 0.0):
        obj = LmmObjective(model.core, reml, model.log_w, lower)
        obj.parallel_min = par
        got[par] = obj.fit(x0, step, restart_edge=False)
        m = lower.size
        ahead = 2 * m + 1 if par == 0.0 and m >= 2 else 1
        if data == "Dyestuff2":         # BOBYQA moves a start this near its bound: all new
            ahead = 0
        assert obj.nreal == got[par][2] - ahead
    for a, b in zip(got[np.inf], got[0.0]):
        if isinstance(a, np.ndarray):
            assert np.array_equal(a, b)
        else:
            assert a == b
