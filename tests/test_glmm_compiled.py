"""The GLMM fit's compiled loop (pymer._core._optim_glmm) against the model's own Python
objective through pymer.optimize.minimize: the same evaluations, so the same answers
(bitwise), numbers of evaluations, warnings and warm starts."""
import warnings

import numpy as np
import pytest

import pymer
import pymer.glmm as gm
from pymer._core._optim_glmm import GlmmObjective, GlmmStage
from pymer.glmm_fit import PythonObjective, objective_of

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


@pytest.fixture(scope="module")
def cbpp():
    return pymer.datasets.load("cbpp")


def _fit_both(monkeypatch, formula, data, **kw):
    out = []
    for compiled in (False, True):
        if compiled:
            monkeypatch.setattr(gm, "objective_of", objective_of)
        else:
            monkeypatch.setattr(gm, "objective_of", lambda m, n, s: PythonObjective(m, n))
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            r = pymer.glmer(formula, data, **kw)
        out.append((r, [str(x.message) for x in w]))
    return out


def _same_fit(a, b):
    (ra, wa), (rb, wb) = a, b
    assert ra.opt.nevals == rb.opt.nevals
    assert ra.opt.status == rb.opt.status
    np.testing.assert_array_equal(ra.theta, rb.theta)
    np.testing.assert_array_equal(ra.beta, rb.beta)
    np.testing.assert_array_equal(ra.u, rb.u)
    assert ra.objective == rb.objective
    assert wa == wb
    if ra._hess is not None:
        np.testing.assert_array_equal(ra._hess, rb._hess)
    assert ra.model._u_warm is None or np.array_equal(ra.model._u_warm, rb.model._u_warm)


@pytest.mark.parametrize("family, nAGQ", [("binomial", 1), ("binomial", 0),
                                          (pymer.families.Binomial(link="cauchit"), 1),
                                          (pymer.families.Binomial(link="probit"), 1)])
def test_compiled_fit_makes_the_python_fits_evaluations(monkeypatch, cbpp, family, nAGQ):
    # cauchit: not concave in eta, the warm start is checked against u = 0 (lowest mode)
    py, c = _fit_both(monkeypatch, CBPP, cbpp, family=family, nAGQ=nAGQ)
    _same_fit(py, c)


@pytest.mark.parametrize("control", [{"optimizer": ("nelder_mead", "bobyqa"), "xtol_abs": 1e-7},
                                     {"optCtrl": {"maxeval": 10}},       # NLopt's status 5 and message
                                     {"nAGQ0initStep": False}])
def test_compiled_fit_with_the_controls(monkeypatch, cbpp, control):
    py, c = _fit_both(monkeypatch, CBPP, cbpp, family="binomial", control=control)
    _same_fit(py, c)


def test_compiled_fit_two_terms_poisson(monkeypatch):
    g = pymer.datasets.load("grouseticks")
    py, c = _fit_both(monkeypatch, "TICKS ~ YEAR + (1|BROOD) + (1|LOCATION)", g, family="poisson")
    _same_fit(py, c)


def test_the_compiled_objective_is_the_models(cbpp):
    m = pymer.glmer(CBPP, cbpp, family="binomial")
    model = m.model
    obj = GlmmObjective(model.pirls_joint, model.pirls_u, model.re.ntheta, model.beta_start, True)
    par = np.r_[m.theta, m.beta]
    model._u_warm = None
    want = model.objective(par, 1)
    obj.u_warm = None
    assert obj.objective1(par) == want
    np.testing.assert_array_equal(obj.u_warm, model._u_warm)
    model._joint_warm = None
    want0 = model.objective_nAGQ0(m.theta)
    obj.joint_warm = None
    assert obj.objective0(m.theta) == want0
    np.testing.assert_array_equal(obj.joint_warm[0], model._joint_warm[0])
    # the derivatives of model.derivatives, the warm start left at the mode at par
    obj.u_warm = model._u_warm = m.u
    g0, H0 = model.derivatives(par, 1)
    obj.u_warm = m.u
    g1, H1 = obj.derivatives(par)
    np.testing.assert_array_equal(g0, g1)
    np.testing.assert_array_equal(H0, H1)
    np.testing.assert_array_equal(obj.u_warm, model._u_warm)


def test_a_stage_keeps_its_incumbent(cbpp):
    m = pymer.glmer(CBPP, cbpp, family="binomial")
    model = m.model
    obj = GlmmObjective(model.pirls_joint, model.pirls_u, model.re.ntheta, model.beta_start, True)
    st = GlmmStage(obj, 1)
    assert st.x is None and st.val == np.inf
    par = np.r_[m.theta, m.beta]
    v = st(par)
    st(par + 0.1)                          # worse: not kept
    np.testing.assert_array_equal(st.x, par)
    assert st.val == v and st.fun(par) == pytest.approx(v, rel=1e-12)   # from another warm start
    np.testing.assert_array_equal(st.beta, m.beta)
    with pytest.raises(ValueError, match="expected 5 parameters"):
        st(par[:3])
    with pytest.raises(ValueError, match="stage must be"):
        GlmmStage(obj, 2)
    with pytest.raises(ValueError, match="compiled optimizer runs"):
        st.minimize(par, np.full(5, -np.inf), optimizer="lbfgsb")


def test_lbfgsb_and_agq_keep_the_python_objective(cbpp):
    m = pymer.glmer(CBPP, cbpp, family="binomial")
    assert isinstance(objective_of(m.model, 1, ("bobyqa", "lbfgsb")), PythonObjective)
    assert isinstance(objective_of(m.model, 5, ("bobyqa", "bobyqa")), PythonObjective)
    assert not isinstance(objective_of(m.model, 1, ("bobyqa", "nelder_mead")), PythonObjective)
