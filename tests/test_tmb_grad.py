"""The compiled gradient of glmmTMB's Laplace objective (_core/_tmb_grad.pyx) against
central differences of the objective, on every reference model family, and the fits
that use it (exact-gradient optimizer, Hessian from gradient differences)."""
import warnings

import numpy as np
import pytest

import pymer
from pymer.tmb.model import TMBModel
from tmbdata import REF, load


def _model(model_id):
    r = REF[model_id]
    return TMBModel(r["formula"], load(r["data"]), pymer.tmb.family(r["family"], r.get("link")),
                    r["ziformula"], r["dispformula"], r["REML"], r.get("weights"), r.get("offset"))


def _central(model, par, u0, h=1e-5):
    g = np.empty_like(par)
    for j in range(par.shape[0]):
        e = np.zeros_like(par)
        e[j] = h * max(1.0, abs(par[j]))
        model._u_warm = u0
        fp = model.objective(par + e)
        model._u_warm = u0
        fm = model.objective(par - e)
        g[j] = (fp - fm) / (2 * e[j])
    model._u_warm = u0
    return g


ONE_TERM = [k for k in REF if not REF[k]["REML"] and k != "grouse_nbinom2_crossed"]


@pytest.mark.parametrize("model_id", ONE_TERM)
def test_gradient_matches_central_differences(model_id):
    m = _model(model_id)
    assert m.has_analytic_gradient
    rng = np.random.default_rng(3)
    # near the start (a GLM's beta, theta 1), moved in every coordinate
    par = m.start() + 0.1 * rng.standard_normal(m.npar)
    par[m._logged] = np.abs(par[m._logged]) + 0.2
    f = m.objective(par)
    g = m.analytic_gradient(par)
    gn = _central(m, par, m.lap.u_vec)
    assert g is not None and g.shape == (m.npar,)
    # central differences of an objective that is exact to ~1e-12 relative
    tol = 1e-5 * np.maximum(1.0, np.abs(gn)) + 1e-8 * abs(f)
    assert np.all(np.abs(g - gn) <= tol), (g, gn)


def test_gradient_on_the_optimizer_scale():
    """gradient() is d/dz with theta's diagonal logged: the chain rule on the compiled one."""
    m = _model("sites_nbinom2")
    par = m.start()
    par[m._logged] = [0.7, 0.3]
    z = m.to_opt(par)
    f, gz = m.gradient(z)
    g = m.analytic_gradient(par)
    assert f == pytest.approx(m.objective(par), rel=1e-12)
    assert np.allclose(gz[m._logged], g[m._logged] * par[m._logged], rtol=1e-10)
    other = np.setdiff1d(np.arange(m.npar), m._logged)
    assert np.allclose(gz[other], g[other], rtol=1e-10)


GROUSE_3RE = "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)"


def test_three_terms_gradient_matches_central_differences():
    """Rows meeting three terms (CHOLMOD's factor): s_i from H^-1 on the pattern of Z'Z."""
    m = TMBModel(GROUSE_3RE, load("grouseticks"), "poisson")
    assert m.has_analytic_gradient and not m.pls.blocked
    rng = np.random.default_rng(5)
    par = m.start() + 0.05 * rng.standard_normal(m.npar)
    par[m._logged] = [0.4, 0.8, 0.6]
    f = m.objective(par)
    g = m.analytic_gradient(par)
    gn = _central(m, par, m.lap.u_vec)
    tol = 1e-5 * np.maximum(1.0, np.abs(gn)) + 1e-8 * abs(f)
    assert np.all(np.abs(g - gn) <= tol), (g, gn)


def test_inverse_on_pattern_is_the_inverse():
    from pymer._core._selinv import inverse_on_pattern
    m = TMBModel(GROUSE_3RE, load("grouseticks"), "poisson")
    theta = np.array([0.4, 0.8, 0.6])
    par = m.start()
    par[m._logged] = theta
    m.objective(par)
    vals = inverse_on_pattern(m.pls)
    q, n = m.re.q, m.n
    Z = np.zeros((n, q))
    np.add.at(Z, (np.repeat(np.arange(n), m.zcols.shape[1]), m.zcols.ravel()), m.zvals.ravel())
    col_term, _ = m.re.column_structure()
    ZL = Z * theta[col_term]
    H = ZL.T @ (m.lap.hess_weights[:, None] * ZL) + np.eye(q)
    Hi = np.linalg.inv(H)
    colptr, rowind = m.re.pattern(m.zcols)
    cols = np.repeat(np.arange(q), np.diff(colptr))
    assert np.allclose(vals[:rowind.shape[0]], Hi[rowind, cols], rtol=1e-10, atol=1e-13)
    assert rowind.shape[0] > q          # entries across terms, not only the diagonal


def test_three_terms_fit_matches_glmer():
    """grouseticks' Poisson GLMM: glmmtmb and glmer maximize the same Laplace likelihood."""
    d = load("grouseticks")
    a = pymer.glmmtmb(GROUSE_3RE, d, family="poisson")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # lme4's own checks on HEIGHT's scale
        b = pymer.glmer(GROUSE_3RE, d, family="poisson")
    assert a.loglik >= b.loglik - 1e-6 * abs(b.loglik)
    assert np.allclose(a.theta, b.theta, rtol=1e-3)


@pytest.mark.parametrize("model_id", ["sleep_gaussian_reml"])
def test_no_analytic_gradient_falls_back_to_differences(model_id):
    """REML (beta in the mode): the gradient is by differences of the objective (rows in
    two terms with the blocked factorization have the compiled one: test_tmb_speed.py)."""
    m = _model(model_id)
    assert not m.has_analytic_gradient and m.analytic_gradient(m.start()) is None
    z = m.to_opt(m.start())
    f, g = m.gradient(z)
    assert np.isfinite(f) and np.all(np.isfinite(g)) and g.shape == (m.npar,)


def test_blocks_need_one_term():
    from pymer._core._selinv import diag_blocks_inverse
    from pymer._core._tmb_grad import laplace_gradient
    m = _model("grouse_nbinom2_crossed")
    m.objective(m.start())
    with pytest.raises(ValueError, match="more than one term"):
        laplace_gradient(m.lap, diag_blocks_inverse(m.pls), m.X, m.Xzi, m.Xd)


@pytest.mark.parametrize("model_id", ["sal_zinb2_cov", "sal_tweedie", "cbpp_betabinomial"])
def test_fit_is_stationary_and_its_hessian_symmetric(model_id):
    """At the fit the exact gradient vanishes and the Hessian from its differences is that
    of the objective (second differences agree)."""
    m = _model(model_id)
    res = m.fit()
    z = m.to_opt(res.par)
    f, g = m.gradient(z)
    assert np.max(np.abs(g)) < 1e-2
    H = res.hess
    assert np.allclose(H, H.T)
    u0 = m.lap.u_vec
    for j in range(m.npar):
        e = np.zeros(m.npar)
        e[j] = 1e-3
        m._u_warm = u0
        fp = m.objective_z(z + e)
        m._u_warm = u0
        fm = m.objective_z(z - e)
        second = (fp - 2 * f + fm) / 1e-6
        assert second == pytest.approx(H[j, j], rel=2e-3, abs=1e-3)
