"""The speed paths of pymer.glmmtmb: H^-1 on the pattern of Z'Z from the blocked
factorization (the compiled gradient for rows in several random-effects terms), the
Takahashi recurrences' one-column supernodes, and the intercept-only dispersion model
without a model frame of its own."""
import numpy as np
import pytest

import pymer
from pymer._core._selinv import diag_blocks_inverse, inverse_on_pattern
from pymer.tmb.model import TMBModel
from tmbdata import REF, load

GROUSE_3RE = "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)"


def _model(model_id):
    r = REF[model_id]
    return TMBModel(r["formula"], load(r["data"]), pymer.tmb.family(r["family"], r.get("link")),
                    r["ziformula"], r["dispformula"], r["REML"], r.get("weights"), r.get("offset"))


def _dense_inverse(m, theta):
    """(Lambda'Z'DZ Lambda + I)^-1 densely, D the core's Hessian weights."""
    ZL = (m.re.Z() @ m.re.Lambda(np.asarray(theta))).toarray()
    H = ZL.T @ (m.lap.hess_weights[:, None] * ZL) + np.eye(m.re.q)
    return np.linalg.inv(H)


def _on_pattern(m, Hi):
    colptr, rowind = m.re.pattern(m.zcols)
    cols = np.repeat(np.arange(m.re.q), np.diff(colptr))
    return Hi[rowind, cols], rowind.shape[0]


@pytest.mark.parametrize("theta", [[0.7, 0.4], [1.3, 0.05]])
def test_blocked_inverse_on_pattern_is_the_inverse(theta):
    """Two crossed terms with the blocked factorization: the level blocks, the cross-term
    blocks (both triangles) and the second term's pairs of H^-1."""
    m = _model("grouse_nbinom2_crossed")
    assert m.pls.blocked and len(m.re.terms) == 2
    par = m.start()
    par[m._logged] = theta
    m.objective(par)
    vals = inverse_on_pattern(m.pls)
    want, nnz = _on_pattern(m, _dense_inverse(m, np.asarray(theta)))
    assert nnz > m.re.q                     # entries across the terms
    assert np.allclose(vals[:nnz], want, rtol=1e-10, atol=1e-13)
    # its diagonal level blocks are diag_blocks_inverse's
    d = diag_blocks_inverse(m.pls)
    colptr, rowind = m.re.pattern(m.zcols)
    diag = vals[[colptr[j] + np.searchsorted(rowind[colptr[j]:colptr[j + 1]], j) for j in range(m.re.q)]]
    assert np.allclose(diag, d, rtol=1e-12)


def test_blocked_two_terms_gradient_matches_central_differences():
    m = _model("grouse_nbinom2_crossed")
    assert m.pls.blocked and m.has_analytic_gradient
    rng = np.random.default_rng(7)
    par = m.start() + 0.05 * rng.standard_normal(m.npar)
    par[m._logged] = [0.6, 0.9]
    f = m.objective(par)
    g = m.analytic_gradient(par)
    u0 = m.lap.u_vec
    gn = np.empty_like(par)
    for j in range(par.shape[0]):
        e = np.zeros_like(par)
        e[j] = 1e-5 * max(1.0, abs(par[j]))
        m._u_warm = u0
        fp = m.objective(par + e)
        m._u_warm = u0
        fm = m.objective(par - e)
        gn[j] = (fp - fm) / (2 * e[j])
    tol = 1e-5 * np.maximum(1.0, np.abs(gn)) + 1e-8 * abs(f)
    assert g is not None and np.all(np.abs(g - gn) <= tol), (g, gn)


@pytest.mark.parametrize("formula", [GROUSE_3RE, "TICKS ~ YEAR + (1 | INDEX) + (1 + YEAR | BROOD)"])
def test_cholmod_inverse_on_pattern(formula):
    """The Takahashi recurrences with supernodes of one column (scalar terms) and with
    a term of several columns per level, against the dense inverse."""
    m = TMBModel(formula, load("grouseticks"), "poisson")
    assert not m.pls.blocked
    par = m.start()
    theta = 0.6 * m.re.theta_start()
    par[m._slices[3]] = theta
    m.objective(par)
    want, nnz = _on_pattern(m, _dense_inverse(m, theta))
    assert np.allclose(inverse_on_pattern(m.pls)[:nnz], want, rtol=1e-10, atol=1e-13)


def test_intercept_only_dispersion_predicts_on_new_data():
    """dispformula '~1' has no model frame of its own; predict(newdata, type='disp')
    is its constant, as on the fitted rows."""
    r = REF["owls_nbinom2_weights"]
    d = load(r["data"])
    fit = pymer.glmmtmb(r["formula"], d, family="nbinom2")
    assert fit.model.df is None and fit.model.disp_names == ["(Intercept)"]
    on_rows = fit.predict(type="disp")
    new = fit.predict(newdata=d.iloc[:7], type="disp")
    assert np.allclose(new, on_rows[:7], rtol=1e-12) and np.allclose(new, new[0])
    assert np.allclose(fit.predict(newdata=d.iloc[:7]), fit.predict()[:7], rtol=1e-10)
