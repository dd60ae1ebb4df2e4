"""Property-based tests (hypothesis) of the LMM objective, of fits, and of the formula reader.

The dense reference below computes the profiled criterion of DESIGN.md section 1
from scratch with numpy: Z and X built from the data columns, Lambda from theta
in lme4's order, the penalized least squares solved as one dense least-squares
problem. It shares no code with pymer's core.
"""
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import pymer
from pymer.errors import FormulaError, PymerDataError
from pymer.formula import parse_formula
from pymer.lmm import LinearMixedModel

from designs import RE_KINDS, dense_terms, group_codes, lme4_term_order

FAST = settings(max_examples=100, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FITS = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# =============================================================================
# Random designs: data, the lme4 formula, and the random-effects terms densely
# =============================================================================

# random-effects kinds that give a grouping factor an intercept (two of them make theta
# non-identifiable: fine for the objective, not for comparing optima)
_INTERCEPT_OF = {"int_g1": "g1", "slope_g1": "g1", "nested": "g1", "int_g2": "g2",
                 "slope_g2": "g2", "uncorr_g2": "g2"}


def _one_intercept_per_factor(kinds):
    owners = [_INTERCEPT_OF[k] for k in kinds if k in _INTERCEPT_OF]
    return len(owners) == len(set(owners))


@st.composite
def designs(draw, identifiable=False):
    """(data, formula, random terms in formula order, weights column, fixed part).

    With `identifiable`, every grouping factor has >= 3 levels and one intercept at most."""
    n = draw(st.integers(24, 90))
    lo = 3 if identifiable else 2
    L1 = draw(st.integers(lo, 6))
    L2 = draw(st.integers(lo, 7))
    L3 = draw(st.integers(2, 3))
    seed = draw(st.integers(0, 2**31 - 1))
    kinds = draw(st.lists(st.sampled_from(sorted(RE_KINDS)), min_size=1, max_size=3, unique=True)
                 .filter(lambda ks: not identifiable or _one_intercept_per_factor(ks)))
    fixed = draw(st.sampled_from(["1", "x", "x + f", "x * f", "0 + f + x", "x + z"]))
    wkind = draw(st.sampled_from(["none", "positive", "zeros"]))
    offset = draw(st.booleans())
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({
        "x": rng.normal(size=n),
        "z": rng.uniform(-2, 3, size=n),
        "f": rng.choice(["a", "b", "c"], size=n),
        "g1": rng.choice([f"A{i}" for i in range(L1)], size=n),
        "g2": rng.choice([f"B{i}" for i in range(L2)], size=n),
        "g3": rng.choice([f"c{i}" for i in range(L3)], size=n),
    })
    d["y"] = 1.0 + 0.5 * d["x"] + rng.normal(size=n) + rng.normal(size=L1)[pd.factorize(d["g1"])[0]]
    if wkind == "positive":
        d["w"] = rng.uniform(0.2, 3.0, size=n)
    elif wkind == "zeros":
        d["w"] = np.where(rng.uniform(size=n) < 0.15, 0.0, rng.uniform(0.5, 2.0, size=n))
    if offset:
        d["o"] = rng.normal(scale=0.3, size=n)
    rhs = [fixed] + [RE_KINDS[k][0] for k in kinds]
    if offset:
        rhs.insert(1, "offset(o)")
    formula = "y ~ " + " + ".join(rhs)
    terms = [t for k in kinds for t in RE_KINDS[k][1]]
    return d, formula, terms, ("w" if wkind != "none" else None), fixed


def dense_X(d, fixed):
    n = len(d)
    one = np.ones((n, 1))
    x = d[["x"]].to_numpy(float)
    if fixed in ("1", "x"):
        return one if fixed == "1" else np.hstack([one, x])
    if fixed == "x + z":
        return np.hstack([one, x, d[["z"]].to_numpy(float)])
    F = (d["f"].to_numpy()[:, None] == np.array(["a", "b", "c"])[None, :]).astype(float)
    F = F[:, F.sum(axis=0) > 0]         # unused levels are dropped
    return {"x + f": np.hstack([one, x, F[:, 1:]]), "x * f": np.hstack([one, x, F[:, 1:], x * F[:, 1:]]),
            "0 + f + x": np.hstack([F, x])}[fixed]


def dense_objective(d, terms, fixed, theta, weights=None, reml=True):
    """Profiled REML criterion / deviance (DESIGN.md section 1) by dense numpy, from scratch."""
    n = len(d)
    y = d["y"].to_numpy(float) - (d["o"].to_numpy(float) if "o" in d else 0.0)
    X = dense_X(d, fixed)
    w = np.ones(n) if weights is None else d[weights].to_numpy(float)
    Zblocks, Lblocks, pos = [], [], 0
    for Xt, codes, nlev in dense_terms(d, terms):
        k = Xt.shape[1]
        Zt = np.zeros((n, nlev * k))
        for j in range(k):
            Zt[np.arange(n), codes * k + j] = Xt[:, j]
        T = np.zeros((k, k))
        for c in range(k):               # column-major lower triangle: lme4's theta order
            for r in range(c, k):
                T[r, c] = theta[pos]
                pos += 1
        Zblocks.append(Zt)
        Lblocks.append(np.kron(np.eye(nlev), T))
    assert pos == len(theta)
    Z = np.hstack(Zblocks)
    q = Z.shape[1]
    Lam = np.zeros((q, q))
    o = 0
    for B in Lblocks:
        Lam[o:o + B.shape[0], o:o + B.shape[0]] = B
        o += B.shape[0]
    sw = np.sqrt(w)
    ZL = (Z @ Lam) * sw[:, None]
    Xw = X * sw[:, None]
    A = ZL.T @ ZL + np.eye(q)
    logdetL = np.linalg.slogdet(A)[1]
    # penalized least squares: min ||W^1/2 (y - Z Lambda u - X beta)||^2 + ||u||^2
    M = np.block([[ZL, Xw], [np.eye(q), np.zeros((q, X.shape[1]))]])
    rhs = np.concatenate([y * sw, np.zeros(q)])
    sol = np.linalg.lstsq(M, rhs, rcond=None)[0]
    pwrss = float(np.sum((rhs - M @ sol) ** 2))
    S = Xw.T @ Xw - Xw.T @ ZL @ np.linalg.solve(A, ZL.T @ Xw)
    logdetRX = np.linalg.slogdet(S)[1]
    p = X.shape[1]
    logw = np.sum(np.log(w[w > 0]))
    if reml:
        return logdetL + logdetRX + (n - p) * (1 + np.log(2 * np.pi * pwrss / (n - p))) - logw
    return logdetL + n * (1 + np.log(2 * np.pi * pwrss / n)) - logw


def build_model(d, formula, weights, reml=True):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mf = parse_formula(formula, d, weights=weights)
        return LinearMixedModel(mf, REML=reml)


def _identifiable(d, terms):
    n = len(d)
    # one column in two terms of one grouping factor ((0 + x | g) + (x | g)): its variance
    # splits between them arbitrarily, so theta depends on the optimizer's path
    seen = [(c, g) for cols, g in terms for c in cols]
    if len(seen) != len(set(seen)):
        return False
    for Xt, codes, nlev in dense_terms(d, terms):
        if nlev < 2 or nlev >= n or nlev * Xt.shape[1] >= n:
            return False
    return True


def random_thetas(rng, terms, count=3):
    ks = [len(cols) for cols, _ in terms]
    out = []
    for i in range(count):
        th = []
        for k in ks:
            for c in range(k):
                for r in range(c, k):
                    if r == c:
                        th.append(0.0 if (i == 2 and c == k - 1) else rng.uniform(0.05, 3.0))
                    else:
                        th.append(rng.uniform(-2.0, 2.0))
        out.append(np.array(th))
    return out


def _theta_for_model(terms, d, theta_formula_order):
    """theta is given per term in formula order: reorder as lme4 orders the terms."""
    sizes = [len(c) * (len(c) + 1) // 2 for c, _ in terms]
    parts = np.split(theta_formula_order, np.cumsum(sizes)[:-1])
    nlevs = [group_codes(d, g)[1] for _, g in terms]
    order = lme4_term_order(nlevs)
    return np.concatenate([parts[i] for i in order]), [terms[i] for i in order]


# =============================================================================
# The objective equals the dense computation
# =============================================================================

@FAST
@given(designs(), st.booleans())
def test_objective_matches_dense_reference(design, reml):
    d, formula, terms, weights, fixed = design
    assume(_identifiable(d, terms))
    m = build_model(d, formula, weights, reml)
    assume(m.p == dense_X(d, fixed).shape[1])   # a column aliased among the positive-weight rows
    rng = np.random.default_rng(len(d))
    for th in random_thetas(rng, terms):
        theta, _ = _theta_for_model(terms, d, th)
        # dense_objective takes theta in lme4's term order too (it sorts the terms itself)
        want = dense_objective(d, terms, fixed, theta, weights, reml)
        got = m.objective(theta)
        assert got == pytest.approx(want, rel=1e-8, abs=1e-10 * len(d)), (formula, theta)


def test_dense_reference_matches_lme4_sleepstudy():
    # the reference itself against lme4's optimum (REML criterion 1743.628)
    d = pymer.datasets.load("sleepstudy").rename(columns={"Reaction": "y", "Days": "x",
                                                          "Subject": "g1"})
    theta = np.array([0.9667417799, 0.0151690555, 0.2309099541])
    val = dense_objective(d, [(["1", "x"], "g1")], "x", theta)
    assert val == pytest.approx(1743.6282719, abs=1e-5)


# =============================================================================
# Fits: invariance to row order and level labels; scaling y
# =============================================================================

def _fit(d, formula, weights=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pymer.lmer(formula, d, weights=weights, **kw)


def _same_fit(a, b):
    """Same criterion function (to rounding) and the same optimum (to the optimizer's tolerance)."""
    for th in (a.theta, b.theta):
        assert b.model.objective(th) == pytest.approx(a.model.objective(th), rel=1e-9, abs=1e-9)
    assert b.objective == pytest.approx(a.objective, rel=1e-6, abs=1e-6)
    # where the criterion is flat, theta is only determined to ~sqrt(ftol)
    np.testing.assert_allclose(b.theta, a.theta, atol=2e-2 * max(1.0, float(np.max(a.theta))))
    fe_scale = float(np.max(np.abs(a.fixef.values))) + a.sigma
    np.testing.assert_allclose(b.fixef.values, a.fixef.values, atol=1e-3 * fe_scale)
    assert b.sigma == pytest.approx(a.sigma, rel=1e-3)


@FITS
@given(designs(identifiable=True), st.integers(0, 2**31 - 1))
def test_fit_invariant_to_row_order_and_level_labels(design, seed):
    d, formula, terms, weights, fixed = design
    assume(_identifiable(d, terms))
    base = _fit(d, formula, weights)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(d))
    shuffled = _fit(d.iloc[perm].reset_index(drop=True), formula, weights)
    _same_fit(base, shuffled)
    # relabel every grouping factor through a random bijection (changes the level order)
    relab = d.copy()
    for g in ("g1", "g2", "g3"):
        levels = sorted(d[g].unique())
        new = [f"L{v}" for v in rng.permutation(10 * len(levels))[:len(levels)]]
        relab[g] = d[g].map(dict(zip(levels, new)))
    _same_fit(base, _fit(relab, formula, weights))


@FITS
@given(designs(identifiable=True), st.sampled_from([1e-6, 0.01, 7.5, 1e5, 1e9, -3.0]))
def test_scaling_y_scales_fixef_and_sigma(design, c):
    d, formula, terms, weights, fixed = design
    assume(_identifiable(d, terms))
    base = _fit(d, formula, weights)
    scaled = d.assign(y=c * d["y"])
    if "o" in d:
        scaled["o"] = c * d["o"]      # the offset is on the response's scale
    sc = _fit(scaled, formula, weights)
    np.testing.assert_allclose(sc.fixef.values, c * base.fixef.values,
                               atol=1e-4 * abs(c) * (np.abs(base.fixef.values).max() + base.sigma))
    assert sc.sigma == pytest.approx(abs(c) * base.sigma, rel=1e-4)
    np.testing.assert_allclose(sc.theta, base.theta, atol=1e-3 * max(1, base.theta.max()))
    # the criterion shifts by exactly (n - p) log c^2 (REML)
    n, p = base.nobs, base.model.p
    th = base.theta
    shift = (n - p) * np.log(c * c)
    assert sc.model.objective(th) == pytest.approx(base.model.objective(th) + shift, rel=1e-9, abs=1e-8)


# =============================================================================
# The formula reader, fuzzed: a parse, or a FormulaError / documented data error
# =============================================================================

FUZZ_DATA = pd.DataFrame({
    "y": np.random.default_rng(0).normal(5, 2, 12).round(3), "x": np.linspace(-1, 1, 12), "g": list("abc") * 4, "h": list("uv") * 6,
    "f": ["p", "q", "r", "s"] * 3, "b": [True, False] * 6, "a b": np.arange(12) % 5,
    "é": np.linspace(0, 1, 12),
})
ALLOWED = (FormulaError, PymerDataError)      # MissingColumnError is a PymerDataError

TOKENS = ["y", "x", "g", "h", "f", "b", "z", "é", "~", "+", "-", "*", "/", ":", "^", "|", "||", "(", ")",
          "1", "0", "2", "0.5", "-1", "log(", "exp(", "factor(", "I(", "offset(", "scale(", "cbind(", ",",
          "%in%", "`x`", "`a b`", "'s'", '"s"', "==", "!", "&", "<", "1e999", "0x1F", "1L", ".", "::",
          "$", "[", "]", "=", "{", "}", ";", "#", "`", "%", "\\", " ", "ns(", "poly(", "c(", "levels=",
          "labels=", "digits=", "center=", "scale=", "base=", "round(", "ifelse(", "as.numeric(",
          "ordered(", "pmin(", "%%", "%/%", "1e300", "NA", "Inf", "NaN", "TRUE", "F", "sqrt(", "0/0",
          "!=", "<=", "**", "&&", "x=", "'a'", "¹", "\x00", "\n"]


def _variables():
    return st.sampled_from(["x", "g", "h", "f", "b", "`a b`", "é", "nothere", "1", "0", "2.5"])


def _expressions():
    def extend(children):
        binop = st.tuples(children, st.sampled_from(["+", "-", "*", "/", ":", "^", "%in%", "|", "||",
                                                     "==", "&"]), children)
        call = st.tuples(st.sampled_from(["log", "factor", "I", "scale", "offset", "exp", "round",
                                          "as.numeric", "ordered", "poly", "cbind", "sqrt", "pmax"]),
                         st.lists(children, min_size=0, max_size=2))
        return st.one_of(
            binop.map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
            children.map(lambda e: f"({e})"),
            children.map(lambda e: f"-{e}"),
            call.map(lambda t: f"{t[0]}({', '.join(t[1])})"),
        )
    return st.recursive(_variables(), extend, max_leaves=12)


@st.composite
def formulas(draw):
    """Anything built from formula pieces (mostly not a valid model)."""
    lhs = draw(st.sampled_from(["y", "", "log(y)", "cbind(y, x)", "f", "b", "y + x"]))
    rhs = draw(_expressions())
    bars = draw(st.lists(st.tuples(_expressions(), st.sampled_from(["|", "||"]), _expressions()),
                         max_size=2))
    parts = [rhs] + [f"({a} {op} {g})" for a, op, g in bars]
    return f"{lhs} ~ " + " + ".join(parts)


_SANE_TERMS = ["x", "f", "b", "`a b`", "é", "log(x + 2)", "factor(h)", "I(x^2)", "scale(x)", "x:f",
               "x*f", "(x + f)^2", "f/x", "exp(x)", "offset(x)", "ordered(f)", "x %in% f", "round(x, 1)",
               "as.numeric(f)", "sqrt(abs(x))", "0", "1", "-1", "pmax(x, 0)", "ifelse(x > 0, x, 0)",
               "factor(x > 0)", "log(x)", "nothere", "- x", "poly(x, 2)", "(b == 'TRUE')"]
_SANE_GROUPS = ["g", "h", "f", "g:h", "g/h", "b", "`a b`", "x", "nothere", "g/h/f"]


@st.composite
def model_formulas(draw):
    """lme4 formulas built from valid pieces: most parse."""
    lhs = draw(st.sampled_from(["y", "y", "log(y + 1)", "é", "cbind(y, 12 - y)", "f"]))
    fixed = draw(st.lists(st.sampled_from(_SANE_TERMS), min_size=1, max_size=3))
    bars = draw(st.lists(st.tuples(st.lists(st.sampled_from(_SANE_TERMS), min_size=1, max_size=2),
                                   st.sampled_from(["|", "||"]), st.sampled_from(_SANE_GROUPS)),
                         min_size=0, max_size=2))
    parts = [" + ".join(fixed)] + [f"({' + '.join(a)} {op} {g})" for a, op, g in bars]
    return f"{lhs} ~ " + " + ".join(parts)


def _parse_or_documented_error(text):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            mf = parse_formula(text, FUZZ_DATA)
        except ALLOWED as e:
            assert str(e), f"empty message for {text!r}"
            return None
    assert mf.X.shape[0] == mf.n
    return mf


@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(model_formulas(), formulas(),
                 st.lists(st.sampled_from(TOKENS), max_size=25).map(" ".join), st.text(max_size=40)))
def test_formula_reader_never_raises_anything_else(text):
    _parse_or_documented_error(text)


EXTREME = [
    "y ~ " + "(" * 3000 + "x" + ")" * 3000 + " + (1 | g)",
    "y ~ " + "+".join(["x"] * 5000) + " + (1 | g)",
    "y ~ " + "-" * 5000 + "x + (1 | g)",
    "y ~ x^100000000 + (1 | g)",
    "y ~ round(x, digits = 1e300) + (1 | g)",
    "y ~ ¹ + (1 | g)",
    "y ~ x + (1 | g)\x00",
]


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(model_formulas())
def test_model_building_never_raises_anything_else(text):
    # past the parser: lme4's checks, the model matrices, the compiled core, one evaluation
    mf = _parse_or_documented_error(text)
    if mf is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            m = LinearMixedModel(mf)
        except ALLOWED as e:
            assert str(e)
            return
        v = m.objective(m.re.theta_start())
    assert not np.isnan(v) and v > -np.inf


@pytest.mark.parametrize("text", EXTREME, ids=[f"extreme{i}" for i in range(len(EXTREME))])
def test_formula_reader_extreme_inputs(text):
    _parse_or_documented_error(text)
