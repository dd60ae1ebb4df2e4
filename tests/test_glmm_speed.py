"""The speed paths of glmer (issue 17) give the answers of the plain computation: the
u-only PIRLS reuses X beta only for the same beta, the joint (nAGQ = 0) cross-products
accumulated row by row are Z'W[X z] and [X z]'W[X z], and the garbage collector paused
during a fit is left as the caller had it."""
import gc
import warnings

import numpy as np
import pytest

import pymer
from pymer.glmm import GeneralizedLinearMixedModel

CASES = {
    # one scalar term (K = 1), three crossed scalar terms (K = 3), an intercept-slope term (K = 2)
    "cbpp": ("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial"),
    "grouseticks": ("grouseticks", "TICKS ~ YEAR + scale(HEIGHT) + (1|BROOD) + (1|INDEX) + (1|LOCATION)",
                    "poisson"),
    "cbpp_slope": ("cbpp", "cbind(incidence, size - incidence) ~ period + (1 + size | herd)", "binomial"),
}
_FITS = {}


def _fit(key):
    if key not in _FITS:
        ds, f, fam = CASES[key]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITS[key] = pymer.glmer(f, pymer.datasets.load(ds), family=fam)
    return _FITS[key]


def _fresh(m):
    """A new model on the same frame: PIRLS states that have never run."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GeneralizedLinearMixedModel(m.model.mf, m.model.family)


def _dense_Z(model):
    Z = np.zeros((model.n, model.re.q))
    rows = np.repeat(np.arange(model.n), model.zcols.shape[1])
    np.add.at(Z, (rows, model.zcols.ravel()), model.zvals.ravel())
    return Z


@pytest.mark.parametrize("key", sorted(CASES))
def test_u_only_pirls_recomputes_X_beta_for_a_new_beta(key):
    m = _fit(key)
    model = _fresh(m)
    pu = model.pirls_u
    th, b1 = m.theta, m.beta
    b2 = b1 + 0.25 * np.arange(1, b1.size + 1) / b1.size
    u0 = np.zeros(model.re.q)
    v1 = pu.laplace(th, b1, u0)
    v1_again = pu.laplace(th, b1, u0)                  # X beta reused: the same numbers
    assert v1_again == v1
    v2 = pu.laplace(th, b2, u0)                        # a new beta: X beta recomputed
    other = _fresh(m).pirls_u
    assert v2 == other.laplace(th, b2, u0)
    np.testing.assert_array_equal(pu.eta_vec, other.eta_vec)
    eta = model.offset + model.X @ b2 + _dense_Z(model) @ pu.b_vec
    np.testing.assert_allclose(pu.eta_vec, eta, rtol=1e-12, atol=1e-12)
    assert v2 != v1


@pytest.mark.parametrize("key", sorted(CASES))
@pytest.mark.parametrize("joint", [False, True])
def test_crossproducts_are_those_of_the_working_model(key, joint):
    """At one point (no PIRLS step), the core holds Z'W[X z] and [X z]'W[X z] (joint) or
    Z'W(z - X beta) (u only), z = eta - offset + (y - mu)/mu_eta the working response."""
    m = _fit(key)
    model = _fresh(m)
    pir = model.pirls_joint if joint else model.pirls_u
    core = model.core_joint if joint else model.core_u
    rng = np.random.default_rng(7)
    u = 0.3 * rng.standard_normal(model.re.q)
    pir.maxit = 0
    try:
        pir.laplace(m.theta, m.beta, u)
    finally:
        pir.maxit = 100
    fam = model.family
    eta = pir.eta_vec
    mu, mu_eta, var = fam.eval(eta, model.y, model.pw)[:3]
    w = model.pw * mu_eta ** 2 / var
    np.testing.assert_allclose(pir.weights_vec, w, rtol=1e-13)
    z = eta - model.offset + (model.y - mu) / mu_eta
    Z = _dense_Z(model)
    if joint:
        Xz = np.column_stack([model.X, z])
    else:
        Xz = (z - model.X @ m.beta)[:, None]
    ZtXy = np.asarray(core.ZtXy)
    scale = np.abs(Z).T @ (w[:, None] * np.abs(Xz))
    np.testing.assert_allclose(ZtXy, Z.T @ (w[:, None] * Xz), rtol=0, atol=1e-12 * max(1.0, scale.max()))
    XtX = Xz.T @ (w[:, None] * Xz)
    np.testing.assert_allclose(np.asarray(core.XytXy), XtX, rtol=1e-11, atol=1e-11 * np.abs(XtX).max())


def test_fit_leaves_the_garbage_collector_as_it_was():
    ds, f, fam = CASES["cbpp"]
    data = pymer.datasets.load(ds)
    was = gc.isenabled()
    try:
        gc.enable()
        pymer.glmer(f, data, family=fam)
        assert gc.isenabled()
        with pytest.raises(Exception):
            pymer.glmer(f.replace("period", "no_such_column"), data, family=fam)
        assert gc.isenabled()
        gc.disable()
        pymer.glmer(f, data, family=fam)
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()
        else:
            gc.disable()


def test_joint_and_u_only_fits_reproduce_across_refits():
    """The cached X beta and the row-by-row scatter keep a fit deterministic: the same
    model fitted twice (and its refit to the same response) gives the same numbers."""
    m = _fit("grouseticks")
    again = m.model.with_response(m.model.y).fit()
    assert again.objective == m.objective
    np.testing.assert_array_equal(again.beta, m.beta)
    np.testing.assert_array_equal(again.theta, m.theta)
