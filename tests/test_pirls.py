"""The compiled PIRLS of glmer (pymer/_core/_pirls.pyx): the Laplace deviance does not
depend on where PIRLS starts, the first-order prediction of the mode from the last one
is second-order accurate, and -2 log-likelihood from the deviance plus a constant is
R's family()$aic."""
import warnings

import numpy as np
import pytest

import pymer

CASES = {
    "cbpp": ("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial"),
    "grouseticks": ("grouseticks", "TICKS ~ YEAR + scale(HEIGHT) + (1|BROOD) + (1|INDEX) + (1|LOCATION)",
                    "poisson"),
}
_FITS = {}


def _fit(key):
    if key not in _FITS:
        ds, f, fam = CASES[key]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITS[key] = pymer.glmer(f, pymer.datasets.load(ds), family=fam)
    return _FITS[key]


def _par(m):
    return np.concatenate([m.theta, m.beta])


@pytest.mark.parametrize("key", sorted(CASES))
def test_laplace_deviance_does_not_depend_on_the_start(key):
    m = _fit(key)
    model, pu = m.model, m.model.pirls_u
    nt = model.re.ntheta
    rng = np.random.default_rng(1)
    par = _par(m)
    for scale in (1e-5, 1e-3, 3e-2):
        x = par + scale * rng.standard_normal(par.size)
        x[:nt] = np.abs(x[:nt])
        cold = pu.laplace(x[:nt], x[nt:], np.zeros(model.re.q))
        u_cold = pu.u_vec
        pu.laplace(m.theta, m.beta, m.u)                    # back at the optimum's mode
        assert pu.at_mode
        warm = pu.laplace(x[:nt], x[nt:], m.u, True)        # predicted from it
        assert warm == pytest.approx(cold, rel=0, abs=1e-9)
        np.testing.assert_allclose(pu.u_vec, u_cold, rtol=0, atol=1e-9)
    model.objective(par)


@pytest.mark.parametrize("key", sorted(CASES))
@pytest.mark.parametrize("joint", [False, True])
def test_predicted_mode_is_second_order(key, joint):
    """From the mode at par, the prediction at par + d v misses the mode there by O(d^2)."""
    m = _fit(key)
    model = m.model
    pir = model.pirls_joint if joint else model.pirls_u
    nt = model.re.ntheta
    par = _par(m)
    v = np.random.default_rng(2).standard_normal(par.size)
    if joint:
        v[nt:] = 0.0                                         # beta is inside PIRLS
    errs = []
    for d in (1e-2, 1e-3):
        x = par + d * v
        pir.laplace(x[:nt], x[nt:], np.zeros(model.re.q))  # the mode at x
        mode = np.concatenate([pir.u_vec, pir.beta_vec])
        pir.laplace(m.theta, m.beta, m.u)                   # the mode at par
        maxit = pir.maxit
        pir.maxit = 0                                       # the prediction alone
        try:
            pir.laplace(x[:nt], x[nt:], None, True)
        finally:
            pir.maxit = maxit
        errs.append(np.abs(np.concatenate([pir.u_vec, pir.beta_vec]) - mode).max())
    assert errs[0] < 1e-3
    assert errs[1] < errs[0] / 30, errs
    model.objective(par)


def test_prediction_is_not_trusted_far_away():
    """From a variance at 0 to a large one the tangent is useless: PIRLS starts from u."""
    m = _fit("cbpp")
    pu = m.model.pirls_u
    val0 = pu.laplace([3.0], m.beta, np.zeros(m.model.re.q))
    pu.laplace([0.0], m.beta, np.zeros(m.model.re.q))
    assert pu.at_mode
    assert pu.laplace([3.0], m.beta, np.zeros(m.model.re.q), True) == pytest.approx(val0, abs=1e-9)
    m.model.objective(_par(m))


@pytest.mark.parametrize("weights", [None, "integer", "fractional"])
def test_aic_is_r_family_aic(weights):
    """-2 log-likelihood at the mode (the constant-plus-deviance shortcut where it holds,
    R's aic terms where the binomial counts are not whole numbers)."""
    d = pymer.datasets.load("cbpp")
    d = d.assign(prop=d["incidence"] / d["size"], w=d["size"].astype(float))
    if weights == "fractional":
        d["w"] = d["w"] * 1.3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if weights is None:
            m = pymer.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", d, "binomial")
        else:
            m = pymer.glmer("prop ~ period + (1 | herd)", d, "binomial", weights="w")
    pu = m.model.pirls_u
    fam = m.family
    _, _, _, dr, aic = fam.eval(pu.eta_vec, m.model.y, m.model.pw)
    assert pu.aic == pytest.approx(aic, rel=1e-12)
    assert pu.devsum == pytest.approx(dr.sum(), rel=1e-12)
