"""The large-model set-up (issue 17): from residualize.GRAM_MIN_ROWS rows the LMM forms
X'WX once (one BLAS syrk) for the aliasing screen, the least squares and the core's
[X r]'W[X r], and computes each residual with its cross-products in one compiled pass
(:func:`pymer._core._residual.residual_crossprod`). The answers equal those of the
small-model route (QR least squares, one matrix product) to rounding."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import pymer
import pymer.lmm as plmm
from pymer._core._residual import residual_crossprod
from pymer.errors import PymerDataError
from pymer.formula import parse_formula
from pymer.residualize import GRAM_MIN_ROWS, gram_matrix, gram_residualize, residualize_response


def _frame(n, seed=1):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 300, n)
    h = rng.integers(0, 40, n)
    a = rng.integers(0, 3, n)
    x = rng.normal(size=n)
    y = 1e4 + 2.0 * x + 0.5 * a + rng.normal(size=300)[g] + 0.5 * rng.normal(size=40)[h] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "a": pd.Categorical(a), "g": pd.Categorical(g),
                         "h": pd.Categorical(h), "w": rng.uniform(0.5, 2.0, n)})


@pytest.fixture(scope="module")
def big():
    return _frame(GRAM_MIN_ROWS + 2000)


def _models(formula, data, **kw):
    """The model built by the large route and by the small one (threshold raised)."""
    mf = parse_formula(formula, data, **kw)
    large = plmm.LinearMixedModel(mf)
    old = plmm.GRAM_MIN_ROWS
    plmm.GRAM_MIN_ROWS = 10 ** 12
    try:
        small = plmm.LinearMixedModel(mf)
    finally:
        plmm.GRAM_MIN_ROWS = old
    return large, small


@pytest.mark.parametrize("weights", [None, "w"])
def test_large_route_gives_the_small_routes_crossproducts(big, weights):
    large, small = _models("y ~ x * a + (1 | g) + (1 | h)", big, weights=weights)
    assert large.n >= GRAM_MIN_ROWS
    p = large.p
    np.testing.assert_allclose(large.core.beta0, small.core.beta0, rtol=1e-12, atol=1e-10)
    A, B = np.asarray(large.core.XytXy), np.asarray(small.core.XytXy)
    np.testing.assert_allclose(A[:p, :p], B[:p, :p], rtol=1e-12)
    np.testing.assert_allclose(A[p, p], B[p, p], rtol=1e-10)
    # X'r is ~0 after least squares: rounding of the sums, against |X||r|
    scale = np.sqrt(np.diag(A[:p, :p]) * A[p, p])
    assert np.all(np.abs(A[:p, p] - B[:p, p]) <= 1e-11 * scale)
    np.testing.assert_array_equal(A, A.T)
    np.testing.assert_allclose(large.resid0, small.resid0, rtol=1e-9, atol=1e-9 * np.abs(small.resid0).max())
    np.testing.assert_allclose(np.asarray(large.core.ZtXy), np.asarray(small.core.ZtXy), rtol=1e-9,
                               atol=1e-9 * np.abs(np.asarray(small.core.ZtXy)).max())
    th = np.array([0.8, 0.4])
    assert large.objective(th) == pytest.approx(small.objective(th), rel=1e-12)


def test_large_route_fit_equals_small_route_fit(big):
    large, small = _models("y ~ x + a + (1 | g) + (1 | h)", big)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = large.fit(), small.fit()
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-5)
    np.testing.assert_allclose(a.fixef, b.fixef, rtol=1e-8)
    assert a.objective == pytest.approx(b.objective, rel=1e-10)


@pytest.mark.parametrize("thread_q", [1, 10 ** 9])
def test_large_route_with_an_aliased_column(big, monkeypatch, thread_q):
    # the core's set-up starts with the model frame's p, and again with the kept columns'
    monkeypatch.setattr(plmm, "BACKGROUND_SETUP_Q", thread_q)
    d = big.assign(x2=2.0 * big["x"])
    with pytest.warns(Warning, match="rank deficient"):
        large, small = _models("y ~ x + x2 + a + (1 | g)", d)
    assert large.core.p == large.p == 4
    assert large.fit().objective == pytest.approx(small.fit().objective, rel=1e-10)
    assert large.fixef_names == small.fixef_names and "x2" not in large.fixef_names
    np.testing.assert_allclose(np.asarray(large.core.XytXy)[:4, :4], np.asarray(small.core.XytXy)[:4, :4],
                               rtol=1e-12)


def test_large_route_errors_as_the_small_one(big):
    d = big.assign(y=3.0)
    with pytest.raises(PymerDataError, match="response 'y' is constant"):
        pymer.lmer("y ~ x + (1 | g)", d)
    d = big.assign(y=1.0 + 2.0 * big["x"])
    with pytest.raises(PymerDataError, match="fitted exactly by the fixed effects"):
        pymer.lmer("y ~ x + (1 | g)", d)


def test_gram_residualize_declines_an_ill_conditioned_design():
    rng = np.random.default_rng(3)
    x = rng.normal(size=GRAM_MIN_ROWS)
    X = np.column_stack([np.ones_like(x), x, x + 1e-7 * rng.normal(size=x.size)])
    y = x + rng.normal(size=x.size)
    assert gram_residualize(X, y, None, gram_matrix(X)) is None
    r, beta0 = residualize_response(X, y)       # the QR route decides
    assert np.all(np.isfinite(beta0))


@pytest.mark.parametrize("order", ["C", "F"])
def test_gram_matrix_is_xtx(order):
    X = np.asarray(np.random.default_rng(0).normal(size=(500, 7)), order=order)
    G = gram_matrix(X)
    np.testing.assert_allclose(G, X.T @ X, rtol=1e-13, atol=1e-12)
    np.testing.assert_array_equal(G, G.T)


@pytest.mark.parametrize("weighted", [False, True])
def test_residual_crossprod_matches_numpy(weighted):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(1000, 4))
    y, b = rng.normal(size=1000), rng.normal(size=4)
    w = rng.uniform(size=1000) if weighted else None
    r, xtr, rtr = residual_crossprod(X, y, b, w)
    wr = r * (1.0 if w is None else w)
    np.testing.assert_allclose(r, y - X @ b, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(xtr, X.T @ wr, rtol=1e-12, atol=1e-12)
    assert rtr == pytest.approx(float(r @ wr), rel=1e-13)
    r0, xty, yty = residual_crossprod(X, y, None, w)
    np.testing.assert_array_equal(r0, y)
    with pytest.raises(ValueError, match="need 1000 values"):
        residual_crossprod(X, y[:10], b, w)


def _numpy_blocks(n, intercept, terms):
    """The numpy expression kron_blocks replaces (design.build's former loop)."""
    cols = [np.ones((n, 1))] if intercept else []
    for mats, codes in terms:
        block = np.ones((n, 1))
        for M, c in zip(mats, codes):
            B = M if c is None else M[c]
            block = (B[:, :, None] * block[:, None, :]).reshape(n, -1)
        cols.append(block)
    return np.hstack(cols)


@pytest.mark.parametrize("intercept", [False, True])
def test_kron_blocks_bitwise_as_numpy(intercept):
    from pymer._core._design import kron_blocks
    rng = np.random.default_rng(5)
    n = 300
    c3, c4 = rng.integers(0, 3, n), rng.integers(0, 4, n)
    C3, C4 = rng.normal(size=(3, 2)), rng.normal(size=(4, 3))
    x, P = rng.normal(size=(n, 1)), rng.normal(size=(n, 2))
    terms = [([C3], [c3]), ([x], [None]), ([C3, C4], [c3, c4]), ([x, P, C4], [None, None, c4])]
    want = _numpy_blocks(n, intercept, terms)
    X = np.full(want.shape, np.nan)
    kron_blocks(X, intercept, [([np.ascontiguousarray(M) for M in ms], [None if c is None else c.astype(np.int64)
                                                                        for c in cs]) for ms, cs in terms])
    assert X.tobytes() == want.tobytes()
    with pytest.raises(IndexError, match="out of its contrast matrix"):
        kron_blocks(X, intercept, [([C3], [np.full(n, 3, dtype=np.int64)])])
    with pytest.raises(ValueError, match="do not fit"):
        kron_blocks(X[:, :2].copy(), intercept, terms[2:3])
