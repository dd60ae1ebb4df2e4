"""The family/link pairs that glmm.json lacks, against lme4 (tests/reference/glmm_links.R).

glmm_links.json: lme4's glmer fits at its defaults (refgen.R); glmm_links_tight.json: the
same fits with glmerControl(tolPwrss = 1e-12) (glmm_tight.R), whose standard errors are
not moved by an unconverged PIRLS. family_links.json: R's family objects evaluated on a
grid of eta (family_links.R).

binomial cauchit and log (cbpp), Poisson identity, Gamma identity, inverse Gaussian 1/mu^2
and identity, gaussian log and inverse (simulated data, tests/data, simdata.R).
"""
import warnings

import numpy as np
import pandas as pd
import pytest

import pymer
from conftest import DATA, load_reference
from pymer.errors import PymerDataError
from pymer.optimize import ConvergenceWarning
from refmodels import fit_glmer

REFS = load_reference("glmm_links.json")
TIGHT = load_reference("glmm_links_tight.json")
FAMILY_VALUES = load_reference("family_links.json")
IDS = sorted(REFS)

# lme4's default tolPwrss = 1e-7 stops its PIRLS early enough to move its own estimates
# or SEs by more than the 2e-3 compared here; with tolPwrss = 1e-12 lme4 agrees with pymer
# to 1e-5 or better. gamma_identity: theta 1.6271 at the default, 1.6347 converged (pymer
# 1.6347; lme4's default objective is 1.6e-3 above its converged one). invgauss_canonical:
# SEs 0.03734 / 0.04428 at the default, 0.03746 / 0.04442 converged (as pymer).
LME4_ESTIMATES_UNCONVERGED = {"gamma_identity"}
LME4_SE_UNCONVERGED = {"invgauss_canonical"}

# gaussian_sim_inverse: pymer's second-stage BOBYQA stops short of the optimum there
# (parameters of very different scales: theta 0.047; fixef SEs 0.011 and 0.0028; it
# failed the gradient check with max|grad| 0.0107); the fit then takes Newton steps on
# the derivatives the check computed and reaches lme4's optimum (648.10742340; lme4
# 648.10742366) without a warning, which this test asserts.


def _cases(xfails=(), keys=IDS):
    out = []
    for k in keys:
        marks = [pytest.mark.xfail(strict=True, reason=why) for ks, why in xfails if k in ks]
        out.append(pytest.param(k, marks=marks, id=k))
    return out


@pytest.fixture(scope="module")
def fits():
    return {}


def _fit(fits, key):
    if key not in fits:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            fits[key] = fit_glmer(REFS[key])
        fits[key + "#warnings"] = [str(x.message) for x in w if issubclass(x.category, ConvergenceWarning)]
    return fits[key]


def _values(d):
    return np.array(list(d.values()), dtype=float)


def _vec(x):
    return _values(x) if isinstance(x, dict) else np.atleast_1d(np.array(x, dtype=float))


def test_reference_covers_every_link():
    """Together with glmm.json, lme4 fits of every family/link pair R's families list (the
    other links of make.link() are tested on a sample in test_fidelity_args.py)."""
    have = {(r["family"], r["link"]) for r in REFS.values()}
    have |= {(r["family"], r["link"]) for r in load_reference("glmm.json").values()}
    want = {(fam, link) for fam, links in pymer.families.FAMILY_LISTED_LINKS.items() if fam != "negative.binomial"
            for link in links if (fam, link) != ("gaussian", "identity")}
    assert want - have == set()


@pytest.mark.parametrize("key", _cases())
def test_objective_no_worse_than_lme4(fits, key):
    m = _fit(fits, key)
    assert m.family.name == REFS[key]["family"] and m.family.link == REFS[key]["link"]
    # invgauss_identity and gaussian_sim_log: lme4's default objective is 4.0e-4 and 8e-5
    # below its converged one (an unconverged PIRLS can land the Laplace approximation
    # either side); pymer is at the converged value (722.1766434 vs 722.1766420)
    for obj in (REFS[key]["objective"], TIGHT[key]["objective"]):
        assert m.objective <= obj + 1e-6 * abs(obj), (m.objective, obj)
        assert m.objective == pytest.approx(obj, rel=1e-4)


@pytest.mark.parametrize("key", _cases())
def test_deviance_function_is_lme4s(fits, key):
    """At lme4's converged estimates, pymer's Laplace deviance is lme4's objective."""
    m = _fit(fits, key)
    tight = TIGHT[key]
    model = m.model
    model._u_warm = None
    try:
        val = model.objective(np.concatenate([tight["theta"], _values(tight["fixef"])]))
    finally:
        model.objective(np.concatenate([m.theta, m.beta]))
    assert val == pytest.approx(tight["objective"], rel=1e-7)


@pytest.mark.parametrize("key", _cases())
def test_estimates_match_converged_lme4(fits, key):
    m = _fit(fits, key)
    tight = TIGHT[key]
    assert list(m.fixef.index) == list(tight["fixef"])
    np.testing.assert_allclose(m.fixef.values, _values(tight["fixef"]), rtol=2e-3, atol=1e-5)
    np.testing.assert_allclose(m.theta, tight["theta"], rtol=2e-3, atol=1e-5)


@pytest.mark.parametrize("key", _cases([(LME4_ESTIMATES_UNCONVERGED, "lme4's default tolPwrss moves its theta")]))
def test_estimates_match_lme4(fits, key):
    """lme4's estimates at its defaults, to the 4 significant digits it prints."""
    m = _fit(fits, key)
    ref = REFS[key]
    np.testing.assert_allclose(m.fixef.values, _values(ref["fixef"]), rtol=2e-3, atol=1e-5)
    np.testing.assert_allclose(m.theta, ref["theta"], rtol=2e-3, atol=1e-5)
    assert m.sigma == pytest.approx(ref["sigma"], rel=2e-3)


@pytest.mark.parametrize("key", _cases())
def test_standard_errors_match_converged_lme4(fits, key):
    m = _fit(fits, key)
    tight = TIGHT[key]
    se = np.sqrt(np.diag(m.vcov.values))
    np.testing.assert_allclose(se, _values(tight["se"]), rtol=2e-3)
    np.testing.assert_allclose(m.vcov.values, np.array(tight["vcov"]), rtol=5e-3,
                               atol=2e-3 * np.outer(_values(tight["se"]), _values(tight["se"])).max())
    np.testing.assert_allclose(m.summary().coefficients["Std. Error"].values, se, rtol=1e-12)


@pytest.mark.parametrize("key", _cases([(LME4_SE_UNCONVERGED, "lme4's default tolPwrss moves its SEs")]))
def test_standard_errors_match_lme4(fits, key):
    m = _fit(fits, key)
    np.testing.assert_allclose(m.summary().coefficients["Std. Error"].values, _values(REFS[key]["se"]),
                               rtol=2e-3)


def test_lme4_unconverged_lists():
    """The two lists above are exactly where lme4's default and converged fits differ by
    more than 2e-3."""
    def moved(field):
        return {k for k in IDS if np.max(np.abs(_vec(REFS[k][field]) / _vec(TIGHT[k][field]) - 1)) > 2e-3}
    assert moved("theta") | moved("fixef") == LME4_ESTIMATES_UNCONVERGED
    assert moved("se") == LME4_SE_UNCONVERGED


@pytest.mark.parametrize("key", _cases())
def test_predict_response(fits, key):
    """predict(type = "response") and fitted() on the first rows, as lme4's."""
    m = _fit(fits, key)
    want = np.array(REFS[key]["predict_response_head"])
    n = len(want)
    np.testing.assert_allclose(np.asarray(m.predict(type="response"))[:n], want, rtol=2e-3)
    np.testing.assert_allclose(np.asarray(m.fitted)[:n], np.array(REFS[key]["fitted_head"]), rtol=2e-3)
    np.testing.assert_allclose(np.asarray(m.predict())[:n], np.array(REFS[key]["predict_head"]), rtol=2e-3,
                               atol=1e-4)


@pytest.mark.parametrize("key", _cases())
def test_no_convergence_warning_where_lme4_has_none(fits, key):
    _fit(fits, key)
    assert REFS[key]["optimizer_warnings"] == []
    assert fits[key + "#warnings"] == []


# ---- the family objects themselves, against R's -------------------------------------

@pytest.mark.parametrize("key", sorted(FAMILY_VALUES))
def test_family_values_match_r(key):
    """linkinv, mu.eta, variance, dev.resids and aic of R's family objects, including the
    tails where R clamps mu (cauchit to DBL_EPSILON at |eta| = 1.4e15)."""
    c = FAMILY_VALUES[key]
    fam = pymer.families.get_family(c["family"])
    fam = type(fam)(link=c["link"])
    eta, y, wt = (np.array(c[k], dtype=float) for k in ("eta", "y", "wt"))
    mu, mu_eta, var, dev, aic = fam.eval(eta, y, wt)
    np.testing.assert_allclose(mu, c["mu"], rtol=1e-13, atol=0)
    np.testing.assert_allclose(mu_eta, c["mu_eta"], rtol=1e-13, atol=0)
    np.testing.assert_allclose(var, c["variance"], rtol=1e-13, atol=0)
    np.testing.assert_allclose(dev, c["dev_resids"], rtol=1e-13, atol=1e-300)
    assert aic == pytest.approx(c["aic"], rel=1e-13)


def test_cauchit_keeps_the_lower_tail():
    """mu = atan(1/|eta|)/pi for eta << 0, not 0.5 + atan(eta)/pi (which cancels)."""
    fam = pymer.families.Binomial(link="cauchit")
    eta = np.array([-1e8, -1e12, 1e8])
    mu = fam.eval(eta, np.zeros(3), np.ones(3))[0]
    np.testing.assert_allclose(mu[:2], np.arctan(1 / -eta[:2]) / np.pi, rtol=1e-14)
    assert mu[2] == pytest.approx(1 - np.arctan(1e-8) / np.pi, rel=1e-15)


@pytest.mark.parametrize("link,value,what", [("log", -0.5, "y > 0"), ("log", 0.0, "y > 0"),
                                             ("inverse", 0.0, "y != 0")])
def test_gaussian_link_needs_valid_starting_values(link, value, what):
    """R's gaussian()$initialize: "cannot find valid starting values: please specify some"
    when the log link meets y <= 0 or the inverse link y == 0 (pymer used to return a fit
    with infinite coefficients)."""
    d = pd.read_csv(DATA / "gaussian_log_sim.csv")
    d.loc[3, "y"] = value
    with pytest.raises(PymerDataError, match="cannot find valid starting values") as e:
        pymer.glmer("y ~ x + (1 | grp)", d, family=pymer.families.Gaussian(link=link))
    assert what in str(e.value) and "row 4" in str(e.value)
