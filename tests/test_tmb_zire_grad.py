"""The compiled gradient of the joint Laplace objective (random effects in glmmTMB's
ziformula: pymer._core._tmb_joint_grad) against central differences of the objective,
and the per-observation third derivatives and dispersion partials it is built from
against differences of the compiled second derivatives."""
import warnings

import numpy as np
import pytest

from pymer._core._tmb_joint import joint_obs_higher, joint_obs_terms
from pymer.tmb import JointTMBModel
from pymer.tmb.families import family as tmb_family
from tmbdata import load


@pytest.mark.parametrize("name", ["poisson", "nbinom2", "nbinom1", "truncated_nbinom2", "binomial",
                                  "truncated_poisson", "tweedie"])
@pytest.mark.parametrize("has_zi", [True, False])
def test_third_derivatives_and_dispersion_partials(name, has_zi):
    """joint_obs_higher's third derivatives are the differences of joint_obs_terms'
    second derivatives in (eta_c, eta_z); its log-phi partials the differences of all
    six terms in log phi."""
    fam = tmb_family(name)
    if name == "binomial":
        y = np.array([0.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    elif name == "tweedie":
        y = np.array([0.0, 0.0, 0.4, 3.1, 7.0, 1.2])
    else:
        y = np.array([0.0, 0.0, 1.0, 3.0, 7.0, 12.0])
    if fam.truncated and not has_zi:
        y[:2] = [1.0, 2.0]          # a truncated family's zeros belong to its hurdle
    ec = np.array([0.3, -1.0, 0.5, 1.2, 2.0, -0.4])
    ez = np.array([0.2, -0.5, 1.0, -2.0, 0.3, 2.5])
    phi = 1.7 if fam.has_dispersion else 1.0
    o = joint_obs_higher(fam.code, fam.link_code, fam.truncated, y, 1.0, ec, ez, phi, 1.4, has_zi)
    np.testing.assert_array_equal(o[:6], joint_obs_terms(fam.code, fam.link_code, fam.truncated, y, 1.0, ec, ez,
                                                         phi, 1.4, has_zi))

    def terms(a=ec, b=ez, ph=phi):
        return joint_obs_terms(fam.code, fam.link_code, fam.truncated, y, 1.0, a, b, ph, 1.4, has_zi)
    h = 1e-5
    dc = (terms(a=ec + h) - terms(a=ec - h)) / (2 * h)
    dz = (terms(b=ez + h) - terms(b=ez - h)) / (2 * h)
    # rows 3-5 are minus the second derivatives (cc, zz, cz)
    l_ccc, l_ccz, l_czz, l_zzz = o[6:10]
    np.testing.assert_allclose(l_ccc, -dc[3], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(l_ccz, -dz[3], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(l_ccz, -dc[5], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(l_czz, -dc[4], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(l_czz, -dz[5], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(l_zzz, -dz[4], rtol=1e-6, atol=1e-8)
    if not has_zi:
        assert not o[7:10].any()
    if fam.has_dispersion:
        dp = (terms(ph=phi * np.exp(h)) - terms(ph=phi * np.exp(-h))) / (2 * h)
        np.testing.assert_allclose(o[10:16], dp, rtol=1e-6, atol=1e-8)


def _model(formula, ziformula, family, data, dispformula="~1"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return JointTMBModel(formula, data, family, ziformula=ziformula, dispformula=dispformula)


GRAD_MODELS = {
    "zip": ("count ~ mined + (1 | site)", "~ mined + (1 | site)", "poisson"),
    "zinb2_dispformula": ("count ~ spp + mined + (1 | site)", "~ (1 | site)", "nbinom2", "~ mined"),
    "hurdle_nb2": ("count ~ mined + (1 | site)", "~ spp + (1 | site)", "truncated_nbinom2"),
    "zinb1_slope_two_terms": ("count ~ mined + (1 | site) + (1 | spp)", "~ (1 + cover | site)", "nbinom1"),
    "zip_nocond_re": ("count ~ mined", "~ cover + (1 | spp)", "poisson"),
    "zib": ("present ~ cover + (1 | site)", "~ (1 | spp)", "binomial"),
}


@pytest.mark.parametrize("mid", list(GRAD_MODELS))
def test_gradient_against_differences(mid):
    """The compiled gradient (natural scale, all fixed parameters) against central
    differences of the objective, away from the optimum; and on the optimizer's
    scale (log SDs) as the model's gradient() gives it."""
    sal = load("Salamanders")
    sal["present"] = (sal["count"] > 0).astype(float)
    m = _model(*GRAD_MODELS[mid][:3], sal, *GRAD_MODELS[mid][3:])
    rng = np.random.default_rng(3)
    par = m.start()
    par = par + 0.15 * rng.standard_normal(par.shape[0])
    par[m._logged] = np.abs(par[m._logged]) * 0.8 + 0.2
    f0 = m.objective(par)
    assert np.isfinite(f0)
    g = m.analytic_gradient(par)
    assert g is not None and g.shape == par.shape
    num = np.empty_like(par)
    for j in range(par.shape[0]):
        h = 1e-5 * max(1.0, abs(par[j]))
        e = np.zeros_like(par)
        e[j] = h
        m._u_warm = None
        fp = m.objective(par + e)
        m._u_warm = None
        fm = m.objective(par - e)
        num[j] = (fp - fm) / (2 * h)
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-5 * np.max(np.abs(num)))
    # the optimizer's scale: d/d log sd = sd d/d sd
    z0 = m.to_opt(par)
    fz, gz = m.gradient(z0)
    assert fz == pytest.approx(f0, rel=1e-12)
    np.testing.assert_allclose(gz[m._logged], g[m._logged] * par[m._logged], rtol=1e-10)
