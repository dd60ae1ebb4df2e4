"""glmer and glmer_nb on hard data, against lme4 and a dense reference; threads, long loops, bad input.

lme4's results for the hard cases (and the simulated data themselves) are in
tests/reference/glmm_hard.json, made by tests/reference/glmm_hard.R. The dense
reference of the Laplace deviance below is computed from scratch with numpy and
scipy (DESIGN.md section 1) and shares no code with pymer's core.
"""
import copy
import os
import re
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy import special, stats

import pymer
from pymer import ConvergenceWarning, MissingColumnError, PymerDataError, ResponseWarning, SingularFitWarning
from pymer.families import Binomial, NegativeBinomial, Poisson
from pymer.formula import parse_formula
from pymer.glmm import GeneralizedLinearMixedModel
from pymer.optimize import check_convergence

from conftest import load_reference, raises_naming, rss_mb
from designs import RE_KINDS, dense_terms, group_codes, lme4_term_order

HARD = load_reference("glmm_hard.json")
SEPARATION = "fitted probabilities numerically 0 or 1 occurred"
SINGULAR = "boundary (singular) fit: see help('isSingular')"
GRAD = r"Model failed to converge with max\|grad\| = [0-9.e+-]+ \(tol = 0\.002, component \d+\)"


def hard_data(key):
    return pd.DataFrame(HARD[key]["data"])


def fit_recording(formula, d, fun=None, **kw):
    """The fit, its standard errors, and every warning (text by category) on the way."""
    fun = fun or pymer.glmer
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        m = fun(formula, d, **kw)
        se = np.sqrt(np.diag(m.vcov.values))    # the vcov may warn (Hessian fallback)
    return m, se, [(w.category, str(w.message)) for w in rec]


def quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **k)


def texts(rec, category):
    return [s for c, s in rec if issubclass(c, category)]


def assert_finite_fit(m, se):
    for v in (m.fixef.values, m.theta, [m.objective, m.loglik, m.aic, m.deviance], se, m.fitted,
              m.vcov.values, m.predict(), *[r.values for r in m.ranef.values()]):
        assert np.all(np.isfinite(v)), v
    text = str(m.summary())
    assert "nan" not in text.lower() and "inf" not in text.lower().replace("information", "")


# =============================================================================
# Separation
# =============================================================================

@pytest.mark.parametrize("nAGQ", [1, 0])
def test_complete_separation_warns_and_stays_finite(nAGQ):
    # lme4 1.1-31 stops: "pwrssUpdate did not converge in (maxit) iterations"; glm()
    # (no random effects) reaches x = 328 with "fitted probabilities numerically 0 or 1"
    assert HARD["separation_complete"]["error"] == "pwrssUpdate did not converge in (maxit) iterations"
    d = hard_data("separation_complete")
    m, se, rec = fit_recording("y ~ x + (1 | g)", d, family="binomial", nAGQ=nAGQ)
    assert any(s.startswith(SEPARATION + " (80 of 80 observations)") for s in texts(rec, ConvergenceWarning))
    assert_finite_fit(m, se)
    # the estimates run off towards the separating slope, the fit reproduces y exactly
    assert m.fixef["x"] > 50 and se[1] > 1e3
    np.testing.assert_array_equal(np.round(m.fitted), d["y"])
    assert 0 <= m.objective < 1e-3


def test_quasi_complete_separation_as_lme4():
    e = HARD["separation_quasi"]
    # lme4: fc = -24.2 with SE 1024, and "Model is nearly unidentifiable: large eigenvalue ratio"
    assert e["fixef"]["fc"] < -20 and e["se"]["fc"] > 1e3
    assert any("large eigenvalue ratio" in w for w in e["warnings"])
    d = hard_data("separation_quasi")
    before = d.copy()
    m, se, rec = fit_recording("y ~ x + f + (1 | g)", d, family="binomial")
    pd.testing.assert_frame_equal(d, before)
    assert_finite_fit(m, se)
    assert any(s.startswith(SEPARATION + " (20 of 80 observations)") for s in texts(rec, ConvergenceWarning))
    # fc runs off (pymer's optimizer goes further along the flat direction than lme4's) ...
    i = list(m.fixef.index).index("fc")
    assert m.fixef["fc"] < -20 and se[i] > 1e3
    assert m.fitted[d["f"] == "c"].max() < 1e-8
    # ... and the identified parameters are lme4's, at the same (or a lower) deviance
    for k in ("(Intercept)", "x", "fb", "fd"):
        assert m.fixef[k] == pytest.approx(e["fixef"][k], abs=1e-3), k
        assert se[list(m.fixef.index).index(k)] == pytest.approx(e["se"][k], rel=0.1), k
    np.testing.assert_allclose(m.theta, e["theta"], atol=1e-3)
    assert e["objective"] - 1e-4 < m.objective <= e["objective"] + 1e-6


def test_no_separation_warning_for_ordinary_fits():
    for key, formula, fam, kw in [("singular_intercept", "y ~ x + (1 | g)", "binomial", {}),
                                  ("poisson_zero_groups", "y ~ x + (1 | g)", "poisson", {}),
                                  ("binomial_zero_weights", "prop ~ x + (1 | g)", "binomial",
                                   {"weights": "m"})]:
        m, se, rec = fit_recording(formula, hard_data(key), family=fam, **kw)
        assert not [s for s in texts(rec, ConvergenceWarning) if "numerically 0" in s], key


# =============================================================================
# Large counts, all-zero groups
# =============================================================================

LARGE = ["poisson_large_1e+06", "poisson_large_1e+07", "poisson_large_1e+08"]


@pytest.mark.parametrize("key", LARGE)
def test_large_poisson_counts_as_lme4(key):
    e = HARD[key]
    m, se, rec = fit_recording("y ~ x + (1 | g)", hard_data(key), family="poisson")
    assert_finite_fit(m, se)
    # lme4's estimates; the deviance (~1e3 out of terms ~1e10) is flat to ~1e-5 at 1e8
    assert m.fixef["(Intercept)"] == pytest.approx(e["fixef"]["(Intercept)"], abs=2e-5)
    assert m.fixef["x"] == pytest.approx(e["fixef"]["x"], abs=0.01 * e["se"]["x"])
    np.testing.assert_allclose(m.theta, e["theta"], atol=1e-3)
    assert m.objective == pytest.approx(e["objective"], abs=1e-4)
    assert se[1] == pytest.approx(e["se"]["x"], rel=0.01)
    # lme4 warns that the model is nearly unidentifiable (huge Hessian in beta); so does pymer
    assert texts(rec, ConvergenceWarning)
    assert all("nearly unidentifiable" in w for w in e["warnings"])


@pytest.mark.parametrize("key", [
    "poisson_large_1e+06",
    # failed (SE 0.127) while the Laplace deviance was computed as aic + |u|^2 + log|L|^2, the
    # aic from sums of y log mu ~ 1e10 whose rounding made the finite-difference Hessian noise
    "poisson_large_1e+07",
    pytest.param("poisson_large_1e+08", marks=pytest.mark.xfail(strict=True, reason=(
        "at counts of 1e8 the Laplace deviance (~1e3) carries rounding of ~1e-7..1e-5 from terms of "
        "~1e11, against second differences of ~5e-7 at the Hessian's step 1e-4 in beta: the "
        "intercept's SE comes out 20% low (0.152 against lme4's 0.191; earlier a 'degenerate "
        "Hessian' warning and the R_X fallback). A larger step in beta, or the beta block of the "
        "Hessian from the PIRLS weights, would avoid it"))),
])
def test_large_poisson_counts_hessian(key):
    e = HARD[key]
    m, se, rec = fit_recording("y ~ x + (1 | g)", hard_data(key), family="poisson")
    msgs = texts(rec, ConvergenceWarning)
    assert not [s for s in msgs if "degenerate" in s or "falling back" in s], msgs
    assert any(s.startswith("Model is nearly unidentifiable: very large eigenvalue") for s in msgs)
    assert se[0] == pytest.approx(e["se"]["(Intercept)"], rel=0.05)


def test_all_zero_groups_in_poisson():
    e = HARD["poisson_zero_groups"]
    d = hard_data("poisson_zero_groups")
    m, se, rec = fit_recording("y ~ x + (1 | g)", d, family="poisson")
    # lme4 fits it without a warning; so does pymer
    assert e["warnings"] == [] and e["messages"] == []
    assert rec == []
    assert_finite_fit(m, se)
    assert m.objective <= e["objective"] + 1e-6
    np.testing.assert_allclose(m.fixef.values, list(e["fixef"].values()), atol=1e-3)
    np.testing.assert_allclose(m.theta, e["theta"], atol=1e-3)
    np.testing.assert_allclose(se, list(e["se"].values()), rtol=2e-3)
    # the all-zero groups get large negative, finite conditional modes, as in lme4
    re_ = m.ranef["g"]["(Intercept)"]
    ref = e["ranef"]["g"]
    np.testing.assert_allclose(re_.values, np.array(ref["values"])[:, 0], atol=2e-3)
    zero = ["g02", "g05", "g09"]
    assert list(re_.index) == ref["levels"] and (re_[zero] < -2).all()
    assert (m.fitted[d["g"].isin(zero)] > 1e-3).all()


# =============================================================================
# Singular fits, zero weights, proportions with weights
# =============================================================================

@pytest.mark.parametrize("key, formula, fam", [
    ("singular_intercept", "y ~ x + (1 | g)", "binomial"),
    ("singular_slopes", "y ~ x + (x | g)", "poisson"),
])
def test_singular_glmm_fit(key, formula, fam):
    e = HARD[key]
    assert e["singular"] and SINGULAR in e["messages"]
    m, se, rec = fit_recording(formula, hard_data(key), family=fam)
    assert texts(rec, SingularFitWarning) == [SINGULAR]
    assert not texts(rec, ConvergenceWarning)
    assert m.is_singular
    assert_finite_fit(m, se)
    # the same parameter on its boundary (a variance, or the last diagonal: correlation -1)
    zero = np.array(e["theta"]) == 0
    assert np.all(np.abs(m.theta[zero]) < 1e-4) and np.all(np.abs(m.theta[~zero]) > 0.05)
    assert m.objective <= e["objective"] + 1e-6
    np.testing.assert_allclose(m.fixef.values, list(e["fixef"].values()), atol=1e-3)
    np.testing.assert_allclose(se, list(e["se"].values()), rtol=0.02)
    assert SINGULAR in str(m.summary())
    if m.re.ntheta == 3:
        assert m.varcorr["sdcor"].iloc[2] == pytest.approx(-1.0, abs=1e-6)


def test_zero_weight_rows_and_proportions_with_weights():
    e, e_drop = HARD["binomial_zero_weights"], HARD["binomial_zero_weights_dropped"]
    d = hard_data("binomial_zero_weights")
    zero = d["m"] == 0
    assert zero.sum() == 5
    # lme4: rows of weight 0 change nothing (not even the deviance), but count in nobs
    assert e["objective"] == e_drop["objective"] and e["nobs"] == 96 and e_drop["nobs"] == 91
    m, se, rec = fit_recording("prop ~ x + (1 | g)", d, family="binomial", weights="m")
    assert rec == []
    assert_finite_fit(m, se)
    assert m.nobs == e["nobs"]
    assert m.objective <= e["objective"] + 1e-6
    np.testing.assert_allclose(m.fixef.values, list(e["fixef"].values()), atol=1e-3)
    np.testing.assert_allclose(m.theta, e["theta"], atol=1e-3)
    np.testing.assert_allclose(se, list(e["se"].values()), rtol=5e-3)
    # the same model as counts, without the zero-weight rows ...
    dropped = quiet(pymer.glmer, "cbind(s, m - s) ~ x + (1 | g)", d[~zero], family="binomial")
    assert dropped.nobs == e_drop["nobs"]
    assert dropped.objective == pytest.approx(m.objective, rel=1e-9)
    np.testing.assert_allclose(dropped.fixef.values, m.fixef.values, rtol=1e-6)
    np.testing.assert_allclose(dropped.theta, m.theta, rtol=1e-6)
    # ... and with them (cbind(0, 0) rows), and with other proportions where the weight is 0
    counts = quiet(pymer.glmer, "cbind(s, m - s) ~ x + (1 | g)", d, family="binomial")
    assert counts.objective == pytest.approx(m.objective, rel=1e-9)
    d2 = d.assign(prop=np.where(zero, 1.0 - d["prop"], d["prop"]))
    m2 = quiet(pymer.glmer, "prop ~ x + (1 | g)", d2, family="binomial", weights="m")
    assert m2.objective == pytest.approx(m.objective, rel=1e-12)
    np.testing.assert_allclose(m2.fixef.values, m.fixef.values, rtol=1e-9)
    # the prediction at a zero-weight row is the model's, whatever its response
    np.testing.assert_allclose(m2.fitted[zero.to_numpy()], m.fitted[zero.to_numpy()], rtol=1e-9)


# =============================================================================
# A failing convergence check, and lme4's Hessian messages
# =============================================================================

def test_failed_convergence_check_warns_with_lme4_text():
    e = HARD["convergence_maxfun"]
    # lme4 (optimizer stopped after 15 evaluations): "Model failed to converge with max|grad| = ..."
    assert [w for w in e["warnings"] if re.fullmatch(GRAD, w)]
    d = hard_data("convergence_maxfun")
    # pymer: BOBYQA stopped early by coarse tolerances (the parameters' alone no longer
    # stops it short: it moves beta in standard-error units, decorrelated)
    m, se, rec = fit_recording("cbind(s, m - s) ~ x + (x | g)", d, family="binomial",
                               control={"xtol_abs": 0.3, "ftol_abs": 0.5})
    msgs = [s for s in texts(rec, ConvergenceWarning) if re.fullmatch(GRAD, s)]
    assert len(msgs) == 1
    assert float(re.search(r"= ([0-9.e+-]+) ", msgs[0]).group(1)) > 0.002
    assert msgs[0] in m.messages and msgs[0] in str(m.summary())
    assert_finite_fit(m, se)
    # the converged fit is at a lower deviance, and passes the check
    full, se_full, rec_full = fit_recording("cbind(s, m - s) ~ x + (x | g)", d, family="binomial")
    assert not texts(rec_full, ConvergenceWarning)
    assert full.objective < m.objective
    # check_conv=False: no check, no warning
    off, _, rec_off = fit_recording("cbind(s, m - s) ~ x + (x | g)", d, family="binomial",
                                    control={"xtol_abs": 0.3, "check_conv": False})
    assert not [s for s in texts(rec_off, ConvergenceWarning) if "max|grad|" in s]


_HESS = HARD["_hessian_check"]["cases"]
# lme4's messages for 12 Hessians (singular, very large eigenvalue, large ratio, both, none)
@pytest.mark.parametrize("case", _HESS, ids=[f"diag{tuple(c['diag'])}" for c in _HESS])
def test_hessian_check_messages_as_lme4(case):
    H = np.diag(np.asarray(case["diag"], dtype=float))
    msgs = check_convergence(lambda x: 0.0, np.ones(2), np.full(2, -np.inf), derivs=(np.zeros(2), H))[0]
    assert msgs == case["messages"]


# =============================================================================
# Names with dots, spaces, unicode
# =============================================================================

def test_backquoted_and_unicode_names_in_glmer():
    e = HARD["names"]
    d = hard_data("names")
    assert list(d.columns) == ["dose.mg", "my x", "sub ject", "größe"]
    before = copy.deepcopy(d)
    m, se, rec = fit_recording("größe ~ dose.mg + `my x` + (1 | `sub ject`)", d, family="binomial")
    pd.testing.assert_frame_equal(d, before)
    assert rec == []
    # R's coefficient names: syntactic names as they are, the others backquoted
    assert list(m.fixef.index) == e["fixef_names"] == ["(Intercept)", "dose.mg", "`my x`"]
    assert m.objective <= e["objective"] + 1e-6
    for k, s in zip(e["fixef_names"], se):
        assert m.fixef[k] == pytest.approx(e["fixef"][k], abs=0.01 * s), k
    assert list(m.ranef) == ["sub ject"] and list(m.ranef["sub ject"].index) == e["ranef"]["sub ject"]["levels"]
    # the same fit as with plain names
    plain = d.rename(columns={"dose.mg": "a", "my x": "b", "sub ject": "g", "größe": "y"})
    ref = quiet(pymer.glmer, "y ~ a + b + (1 | g)", plain, family="binomial")
    assert ref.objective == pytest.approx(m.objective, rel=1e-12)
    np.testing.assert_allclose(m.fixef.values, ref.fixef.values, rtol=1e-10)
    np.testing.assert_allclose(m.predict(d.iloc[:5]), m.predict()[:5], rtol=1e-10)
    np.testing.assert_allclose(m.predict(d.iloc[:5], type="response"), m.fitted[:5], rtol=1e-10)
    text = str(m.summary())
    assert "sub ject" in text and "größe" in text and "`my x`" in text


# =============================================================================
# Property: the Laplace deviance equals a dense computation from scratch
# =============================================================================

FAST = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FITS = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

def _separate_effects(kinds):
    """No (column, grouping) random effect twice: otherwise theta is not identifiable."""
    pairs = [(c, g) for k in kinds for cols, g in RE_KINDS[k][1] for c in cols]
    return len(pairs) == len(set(pairs))


RESPONSES = {    # (family, response formula text)
    "bernoulli": ("binomial", "y"),
    "trials": ("binomial", "cbind(s, m - s)"),
    "poisson": ("poisson", "y"),
}


@st.composite
def glmm_designs(draw, identifiable=False):
    n = draw(st.integers(30, 80))
    L1 = draw(st.integers(3, 6))
    L2 = draw(st.integers(3, 7))
    L3 = draw(st.integers(2, 3))
    seed = draw(st.integers(0, 2**31 - 1))
    kinds = draw(st.lists(st.sampled_from(sorted(RE_KINDS)), min_size=1, max_size=2, unique=True)
                 .filter(lambda ks: not identifiable or _separate_effects(ks)))
    resp = draw(st.sampled_from(sorted(RESPONSES)))
    family, lhs = RESPONSES[resp]
    link = draw(st.sampled_from(["logit", "probit", "cloglog"] if family == "binomial" else ["log"]))
    fixed = draw(st.sampled_from(["1", "x", "x + f"]))
    offset = draw(st.booleans())
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({
        "x": rng.normal(size=n).round(3),
        "f": rng.choice(["a", "b", "c"], size=n),
        "g1": rng.choice([f"A{i}" for i in range(L1)], size=n),
        "g2": rng.choice([f"B{i}" for i in range(L2)], size=n),
        "g3": rng.choice([f"c{i}" for i in range(L3)], size=n),
        "o": (rng.normal(scale=0.3, size=n) if offset else np.zeros(n)).round(3),
    })
    eta = 0.3 + 0.5 * d["x"] + d["o"] + rng.normal(scale=0.7, size=L1)[pd.factorize(d["g1"])[0]]
    if family == "poisson":
        d["y"] = rng.poisson(np.exp(eta))
    else:
        p = Binomial(link=link).eval(eta.to_numpy(dtype=float, copy=True), np.zeros(n), np.ones(n))[0]
        d["m"] = rng.integers(1, 7, size=n) if resp == "trials" else 1
        d["s"] = rng.binomial(d["m"], p)
        d["y"] = d["s"]
    rhs = [fixed] + (["offset(o)"] if offset else []) + [RE_KINDS[k][0] for k in kinds]
    formula = f"{lhs} ~ " + " + ".join(rhs)
    terms = [t for k in kinds for t in RE_KINDS[k][1]]
    return d, formula, terms, fixed, family, link, resp


def dense_Z_Lambda(d, terms, theta):
    """Z and Lambda densely; terms in lme4's order (designs.lme4_term_order)."""
    n = len(d)
    Zs, Ls, pos = [], [], 0
    for Xt, codes, nlev in dense_terms(d, terms):
        k = Xt.shape[1]
        Z = np.zeros((n, nlev * k))
        for j in range(k):
            Z[np.arange(n), codes * k + j] = Xt[:, j]
        T = np.zeros((k, k))
        for c in range(k):                 # lower triangle column by column: lme4's theta order
            for r in range(c, k):
                T[r, c] = theta[pos]
                pos += 1
        Zs.append(Z)
        Ls.append(np.kron(np.eye(nlev), T))
    assert pos == len(theta)
    q = sum(L.shape[0] for L in Ls)
    Lam = np.zeros((q, q))
    o = 0
    for L in Ls:
        Lam[o:o + L.shape[0], o:o + L.shape[0]] = L
        o += L.shape[0]
    return np.hstack(Zs), Lam


def dense_X(d, fixed):
    one = np.ones((len(d), 1))
    if fixed == "1":
        return one
    x = d[["x"]].to_numpy(float)
    if fixed == "x":
        return np.hstack([one, x])
    F = (d["f"].to_numpy()[:, None] == np.array(["b", "c"])[None, :]).astype(float)
    return np.hstack([one, x, F])


def _link_terms(link, eta):
    """mu, log mu, log(1 - mu), the GLM weight (dmu/deta)^2 / V(mu) and the score factor
    (dmu/deta) / V(mu) at eta, written so that none of them is 0/0 when mu is within
    rounding of 0 or 1 (the binomial links), or V(mu) = mu (the Poisson log link)."""
    if link == "log":
        mu = np.exp(eta)
        return mu, eta, None, mu, np.ones_like(eta)
    if link == "logit":
        mu = special.expit(eta)
        me = special.expit(eta) * special.expit(-eta)
        return mu, special.log_expit(eta), special.log_expit(-eta), me, np.ones_like(eta)
    if link == "probit":
        p, q, phi = special.ndtr(eta), special.ndtr(-eta), stats.norm.pdf(eta)
        return p, special.log_ndtr(eta), special.log_ndtr(-eta), phi * phi / (p * q), phi / (p * q)
    ee = np.exp(eta)                        # cloglog: 1 - mu = exp(-exp(eta))
    mu = -np.expm1(-ee)
    return mu, np.log(mu), -ee, np.exp(2 * eta - ee) / mu, ee / mu


def dense_laplace(d, terms, fixed, resp, link, theta, beta):
    """-2 log L at (theta, beta) by the Laplace approximation, densely:

    the conditional mode u of the penalized deviance -2 log p(y | u) + |u|^2 (Fisher
    scoring with step halving: Newton for the canonical links), then
    -2 log p(y | u) + |u|^2 + log det(Lambda' Z' W Z Lambda + I), W the GLM weights at u."""
    Z, Lam = dense_Z_Lambda(d, terms, theta)
    A = Z @ Lam
    X = dense_X(d, fixed)
    base = X @ beta + d["o"].to_numpy(float)
    if resp == "poisson":
        y = d["y"].to_numpy(float)
        trials = np.ones(len(d))
        const = -special.gammaln(y + 1).sum()
    else:
        s, trials = d["s"].to_numpy(float), d["m"].to_numpy(float)
        y = s / trials
        const = (special.gammaln(trials + 1) - special.gammaln(s + 1) - special.gammaln(trials - s + 1)).sum()

    def state(u):
        eta = base + A @ u
        mu, logmu, log1mmu, w, score = _link_terms(link, eta)
        if resp == "poisson":
            ll = np.sum(y * logmu - mu) + const
        else:
            ll = np.sum(s * logmu + (trials - s) * log1mmu) + const
        return mu, w, score, -2 * ll + u @ u

    q = A.shape[1]
    u = np.zeros(q)
    mu, w, score, pdev = state(u)
    for _ in range(200):
        H = A.T @ ((trials * w)[:, None] * A) + np.eye(q)
        grad = A.T @ (trials * (y - mu) * score) - u
        step = np.linalg.solve(H, grad)
        t = 1.0
        while True:
            new = state(u + t * step)
            if np.isfinite(new[3]) and new[3] <= pdev + 1e-12 * abs(pdev) or t < 1e-10:
                break
            t /= 2
        u = u + t * step
        mu, w, score, pdev = new
        if np.max(np.abs(t * step)) < 1e-13 * (1 + np.max(np.abs(u))):
            break
    logdet = np.linalg.slogdet(A.T @ ((trials * w)[:, None] * A) + np.eye(q))[1]
    return pdev + logdet


def _theta_lme4_order(d, terms, per_term):
    nlevs = [group_codes(d, g)[1] for _, g in terms]
    order = lme4_term_order(nlevs)
    return np.concatenate([per_term[i] for i in order])


def _random_theta(rng, terms, zero_last):
    out = []
    for cols, _ in terms:
        k = len(cols)
        th = []
        for c in range(k):
            for r in range(c, k):
                th.append((0.0 if zero_last and c == k - 1 else rng.uniform(0.1, 1.5)) if r == c
                          else rng.uniform(-0.8, 0.8))
        out.append(np.array(th))
    return out


def _model(d, formula, family, link):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GeneralizedLinearMixedModel(parse_formula(formula, d), Binomial(link=link)
                                           if family == "binomial" else Poisson(link=link))


@FAST
@given(glmm_designs())
def test_laplace_deviance_matches_dense_reference(design):
    d, formula, terms, fixed, family, link, resp = design
    try:
        model = _model(d, formula, family, link)
    except PymerDataError:           # e.g. a constant response: lme4 refuses it too
        assume(False)
    X = dense_X(d, fixed)
    assume(model.p == X.shape[1])
    rng = np.random.default_rng(len(d))
    for zero_last in (False, True):
        theta = _theta_lme4_order(d, terms, _random_theta(rng, terms, zero_last))
        beta = np.array([0.3, 0.5, 0.2, -0.3][:model.p]) + rng.normal(scale=0.2, size=model.p)
        want = dense_laplace(d, terms, fixed, resp, link, theta, beta)
        got = model.objective(np.concatenate([theta, beta]))
        assert got == pytest.approx(want, rel=1e-7), (formula, link, theta, beta)


def test_dense_laplace_reference_matches_lme4_cbpp():
    # the reference itself against lme4's optimum (cbpp, -2 logLik 184.0531)
    cb = pymer.datasets.load("cbpp")
    d = pd.DataFrame({"s": cb["incidence"], "m": cb["size"], "g1": cb["herd"].astype(str),
                      "o": 0.0, "x": 0.0, "f": "a"})
    ref = load_reference("glmm.json")["cbpp_binomial"]
    X = np.column_stack([np.ones(len(cb))] + [(cb["period"] == p).to_numpy(float) for p in "234"])
    # fixed part written into the offset: the reference's X is the intercept only
    beta = np.array([ref["fixef"][k] for k in ("(Intercept)", "period2", "period3", "period4")])
    d["o"] = X[:, 1:] @ beta[1:]
    val = dense_laplace(d, [(["1"], "g1")], "1", "trials", "logit", np.array(ref["theta"]), beta[:1])
    assert val == pytest.approx(ref["objective"], abs=1e-3)


# =============================================================================
# Property: fits do not depend on the row order or on the level labels
# =============================================================================

def _same_fit(a, b):
    for m in (a, b):
        par = np.concatenate([m.theta, m.fixef.values])
        assert b.model.objective(par) == pytest.approx(a.model.objective(par), rel=1e-9, abs=1e-9)
    assert b.objective == pytest.approx(a.objective, rel=1e-6, abs=1e-6)
    np.testing.assert_allclose(b.theta, a.theta, atol=2e-2 * max(1.0, float(np.max(a.theta))))
    np.testing.assert_allclose(b.fixef.values, a.fixef.values,
                               atol=2e-2 * (1 + float(np.max(np.abs(a.fixef.values)))))


@FITS
@given(glmm_designs(identifiable=True), st.integers(0, 2**31 - 1))
def test_glmer_fit_invariant_to_row_order_and_level_labels(design, seed):
    d, formula, terms, fixed, family, link, resp = design
    fam = Binomial(link=link) if family == "binomial" else Poisson(link=link)
    try:
        base = quiet(pymer.glmer, formula, d, family=fam)
    except PymerDataError:
        assume(False)
    assume(np.max(np.abs(base.fixef.values)) < 8)          # not a separated fit
    rng = np.random.default_rng(seed)
    shuffled = d.iloc[rng.permutation(len(d))].reset_index(drop=True)
    _same_fit(base, quiet(pymer.glmer, formula, shuffled, family=fam))
    relab = d.copy()
    for g in ("g1", "g2", "g3"):
        levels = sorted(d[g].unique())
        new = [f"L{v}" for v in rng.permutation(10 * len(levels))[:len(levels)]]
        relab[g] = d[g].map(dict(zip(levels, new)))
    _same_fit(base, quiet(pymer.glmer, formula, relab, family=fam))


# =============================================================================
# Threads and long loops
# =============================================================================

def _glmm_jobs():
    cbpp = pymer.datasets.load("cbpp")
    ticks = pymer.datasets.load("grouseticks")
    rng = np.random.default_rng(11)
    jobs = [
        (pymer.glmer, "cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, {"family": "binomial"}),
        (pymer.glmer, "cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
         {"family": "binomial", "nAGQ": 9}),
        (pymer.glmer, "TICKS ~ YEAR + (1 | BROOD)", ticks, {"family": "poisson"}),
        (pymer.glmer_nb, "TICKS ~ YEAR + (1 | LOCATION)", ticks, {}),
        (pymer.glmer, "prop ~ x + (1 | g)", hard_data("binomial_zero_weights"),
         {"family": "binomial", "weights": "m"}),
        (pymer.glmer, "y ~ x + (x | g)", hard_data("singular_slopes"), {"family": "poisson"}),
    ]
    # a larger crossed model, so that the compiled (GIL-free) sections overlap
    n = 2000
    big = pd.DataFrame({"g": rng.integers(0, 200, n).astype(str), "h": rng.integers(0, 30, n).astype(str),
                        "x": rng.normal(size=n)})
    eta = -0.5 + 0.7 * big["x"] + rng.normal(size=200)[big["g"].astype(int)] \
        + 0.5 * rng.normal(size=30)[big["h"].astype(int)]
    big["y"] = rng.binomial(1, special.expit(eta))
    jobs.append((pymer.glmer, "y ~ x + (1 | g) + (1 | h)", big, {"family": "binomial"}))
    return jobs


def _state(m):
    return np.concatenate([m.theta, m.fixef.values, [m.objective], m.fitted,
                           np.sqrt(np.diag(m.vcov.values))])


def test_glmer_fits_in_threads_match_serial_fits():
    jobs = _glmm_jobs() * 2

    def run(job):
        fun, formula, d, kw = job
        return _state(fun(formula, d, **kw))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        serial = [run(job) for job in jobs]
        with ThreadPoolExecutor(max_workers=4) as ex:
            threaded = list(ex.map(run, jobs))
    for job, a, b in zip(jobs, serial, threaded):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12, err_msg=job[1])


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc (Linux)")
def test_many_glmer_fits_do_not_grow_memory():
    cbpp = pymer.datasets.load("cbpp")
    nd = cbpp.iloc[:4]
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"

    def fit(i):
        m = pymer.glmer(f, cbpp, family="binomial")
        m.ranef, m.vcov, m.predict(nd, type="response"), m.residuals("pearson")
        if i % 25 == 0:
            m.summary()

    for i in range(60):            # warm-up: caches, allocator pools
        fit(i)
    start = rss_mb()
    for i in range(300):
        fit(i)
    grown = rss_mb() - start
    assert grown < 8.0, f"RSS grew by {grown:.1f} MB over 300 glmer fits"


# =============================================================================
# Bad input: a clear error naming the culprit; the caller's data untouched
# =============================================================================

def _set_link(fam, link):
    fam.link = link              # a family object altered after construction
    return fam


def _fitted_ticks():
    return quiet(pymer.glmer, "TICKS ~ YEAR + (1 | BROOD)", pymer.datasets.load("grouseticks"),
                 family="poisson")


TICKS_F = "TICKS ~ YEAR + (1 | BROOD)"
BAD = [
    # R (glmer.nb): "negative values not allowed for the 'Poisson' family" (its Poisson start)
    ("glmer_nb negative counts", lambda d: pymer.glmer_nb("neg ~ YEAR + (1 | BROOD)", d),
     PymerDataError, ["negative values not allowed for the negative binomial family", "'neg'",
                      "126 negative values", "row 0: -1"]),
    ("glmer_nb factor response", lambda d: pymer.glmer_nb("BROOD ~ YEAR + (1 | LOCATION)", d),
     PymerDataError, ["response 'BROOD' is a factor", "negative.binomial family needs one numeric column"]),
    ("glmer_nb nAGQ negative", lambda d: pymer.glmer_nb(TICKS_F, d, nAGQ=-1),
     ValueError, ["nAGQ must be a whole number >= 0", "-1"]),
    ("glmer_nb nAGQ > 1 with a slope", lambda d: pymer.glmer_nb("TICKS ~ HEIGHT + (HEIGHT | BROOD)", d, nAGQ=5),
     ValueError, ["single, scalar random-effects term", "(HEIGHT | BROOD)"]),
    ("glmer_nb unknown control", lambda d: pymer.glmer_nb(TICKS_F, d, control={"maxit": 5}),
     ValueError, ["unknown control setting 'maxit' for glmer_nb()", "known settings"]),
    # R: "'foo' link not recognised"
    ("unknown link name", lambda d: pymer.glmer(TICKS_F, d, family=Binomial(link="logitt")),
     ValueError, ['link "logitt" not available for binomial family', "'logit'"]),
    # R: poisson(link = "logit") is accepted, the fit then stops: "Value 3.1 out of range (0, 1)"
    # R's families take any link make.link() knows (poisson("logit") too): a misspelled one is the error
    ("family object with a wrong link", lambda d: pymer.glmer(TICKS_F, d, family=Poisson(link="logitt")),
     ValueError, ['link "logitt" not available for poisson family', "'log', 'identity', 'sqrt'"]),
    ("family object whose link was changed",
     lambda d: pymer.glmer(TICKS_F, d, family=_set_link(Poisson(), "probitt")),
     ValueError, ['link "probitt" not available for poisson family', "'log'"]),
    # R: "PIRLS loop resulted in NaN value"
    ("negative binomial theta < 0", lambda d: pymer.glmer(TICKS_F, d, family=NegativeBinomial(-2)),
     ValueError, ["negative binomial family needs a finite theta > 0", "-2"]),
    ("negative binomial theta NaN", lambda d: pymer.glmer(TICKS_F, d, family=NegativeBinomial(float("nan"))),
     ValueError, ["finite theta > 0", "nan"]),
    # R: negative.binomial() without theta: 'argument "theta" is missing'
    ("negative.binomial by name", lambda d: pymer.glmer(TICKS_F, d, family="negative.binomial"),
     ValueError, ["family 'negative.binomial' needs its theta", "glmer_nb()", "NegativeBinomial(theta)"]),
    ("family of a wrong type", lambda d: pymer.glmer(TICKS_F, d, family=3),
     TypeError, ["family must be", "int"]),
    # R: "incorrect number of theta components (!=1)"
    ("start of wrong length", lambda d: pymer.glmer(TICKS_F, d, family="poisson", start=[1.0, 0.5]),
     ValueError, ["start has 2 values; theta has 1", "BROOD.(Intercept)"]),
    # R: "Starting values violate bounds"
    ("start below its bound", lambda d: pymer.glmer(TICKS_F, d, family="poisson", start=[-0.5]),
     ValueError, ["start value -0.5 for BROOD.(Intercept) is below its lower bound 0"]),
    ("start not numbers", lambda d: pymer.glmer(TICKS_F, d, family="poisson", start="abc"),
     TypeError, ["start must be a vector of numbers", "str"]),
    ("offset column missing", lambda d: pymer.glmer(TICKS_F, d, family="poisson", offset="logeffort"),
     MissingColumnError, ["offset column 'logeffort' not found"]),
    ("infinite response", lambda d: pymer.glmer("inf ~ YEAR + (1 | BROOD)", d, family="poisson"),
     PymerDataError, ["'inf' has infinite values (1 rows)"]),
    ("weights column missing", lambda d: pymer.glmer(TICKS_F, d, family="poisson", weights="w"),
     MissingColumnError, ["'w' not found"]),
    # R: "New levels detected in newdata"
    ("predict new level", lambda d: _fitted_ticks().predict(d.assign(BROOD=d["BROOD"].astype(str).where(
        d.index != 3, "999")).iloc[:5]),
     PymerDataError, ["new level(s) '999' of grouping factor 'BROOD'", "allow_new_levels=True"]),
    ("predict new level, response scale", lambda d: _fitted_ticks().predict(d.assign(
        BROOD=d["BROOD"].astype(str).where(d.index != 3, "999")).iloc[:5], type="response"),
     PymerDataError, ["new level(s) '999'"]),
    ("predict new fixed-effect level", lambda d: _fitted_ticks().predict(
        d.assign(YEAR=d["YEAR"].astype(str).where(d.index != 1, "98")).iloc[:5], allow_new_levels=True),
     PymerDataError, ["factor 'YEAR' has new level(s) '98'"]),
    ("predict type", lambda d: _fitted_ticks().predict(d.iloc[:3], type="prob"),
     ValueError, ["type must be 'link' or 'response'", "'prob'"]),
    ("refit with negative counts", lambda d: _fitted_ticks().refit(-d["TICKS"].to_numpy() - 1),
     PymerDataError, ["negative values not allowed for the 'Poisson' family"]),
]


@pytest.fixture(scope="module")
def ticks():
    d = pymer.datasets.load("grouseticks").copy()
    d["neg"] = d["TICKS"] - 1
    d["inf"] = np.where(np.arange(len(d)) == 7, np.inf, d["TICKS"])
    return d


@pytest.mark.parametrize("name, call, exc, pieces", BAD, ids=[c[0] for c in BAD])
def test_glmm_bad_input_names_the_culprit(ticks, name, call, exc, pieces):
    raises_naming(ticks, call, exc, pieces)


def test_glmer_nb_non_integer_counts_warn_once(ticks):
    # R warns "non-integer x = 0.500000" (dnbinom) at every evaluation; pymer once, naming the column
    d = ticks.assign(half=ticks["TICKS"] + 0.5)
    before = d.copy()
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        m = pymer.glmer_nb("half ~ YEAR + (1 | BROOD)", d)
    resp = [str(w.message) for w in rec if issubclass(w.category, ResponseWarning)]
    assert resp == ["non-integer values in the negative binomial response 'half' (first at row 0: 0.5)"]
    pd.testing.assert_frame_equal(d, before)
    assert np.isfinite(m.objective) and np.all(np.isfinite(m.fixef.values)) and m.family.theta > 0


def test_predict_new_level_allowed_gives_the_population_prediction(ticks):
    m = _fitted_ticks()
    nd = ticks.iloc[:5].assign(BROOD=ticks["BROOD"].astype(str).iloc[:5].where(np.arange(5) != 3, "999"))
    eta = m.predict(nd, allow_new_levels=True)
    X = np.column_stack([np.ones(5)] + [(nd["YEAR"] == y).to_numpy(float) for y in ("96", "97")])
    assert eta[3] == pytest.approx(X[3] @ m.fixef.values, rel=1e-12)
    keep = np.arange(5) != 3
    np.testing.assert_allclose(eta[keep], m.predict()[:5][keep], rtol=1e-12)
    np.testing.assert_allclose(m.predict(nd, allow_new_levels=True, type="response"), np.exp(eta), rtol=1e-12)
