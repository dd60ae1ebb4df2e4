"""The PLS core's per-model and per-evaluation kernels on crossed designs with a random
slope (the synthetic benchmark's shape): Z'WZ (_crossprod.pyx) against a sparse product,
and the blocked factorization's assembly of the Schur complement, a few columns of a
level at a time, at every block width against CHOLMOD."""
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from pymer._core._crossprod import crossprod_ztwz
from pymer.formula import parse_formula
from pymer.lmm import LinearMixedModel


def _crossed(n, l1, l2, seed):
    rng = np.random.default_rng(seed)
    g1 = rng.integers(0, l1, n)
    g2 = rng.integers(0, l2, n)
    g1[:l1] = np.arange(l1)
    g2[:l2] = np.arange(l2)
    x = rng.normal(size=n)
    y = 1 + 0.5 * x + rng.normal(size=l1)[g1] * (1 + 0.3 * x) + rng.normal(size=l2)[g2] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "z": rng.normal(size=n),
                         "g1": [f"a{i}" for i in g1], "g2": [f"b{i}" for i in g2]})


def _model(formula, d):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LinearMixedModel(parse_formula(formula, d), REML=True)


@pytest.mark.parametrize("formula", ["y ~ x + (x | g1) + (1 | g2)", "y ~ x + (1 | g1) + (x + z | g2)",
                                     "y ~ 1 + (1 | g2)"])
def test_crossprod_is_the_sparse_product(formula):
    d = _crossed(3000, 60, 25, 3)
    m = _model(formula, d)
    zcols, zvals = m.zcols, m.zvals
    n, K = zcols.shape
    Z = sp.csr_matrix((zvals.ravel(), zcols.ravel(), np.arange(0, n * K + 1, K)), shape=(n, m.re.q))
    w = np.random.default_rng(4).uniform(0.2, 3.0, n)
    ref = (Z.T @ sp.diags(w) @ Z).toarray()
    start = np.random.default_rng(5).normal(size=m.rowind.shape[0])
    out = start.copy()
    crossprod_ztwz(m.colptr, m.rowind, zcols, zvals, w, out)      # adds to out
    cols = np.repeat(np.arange(m.re.q), np.diff(m.colptr))
    np.testing.assert_allclose(out - start, ref[m.rowind, cols], rtol=1e-12, atol=1e-10)
    # every entry of the product is on the pattern, and the values are exactly symmetric
    assert np.count_nonzero(ref) == np.count_nonzero(ref[m.rowind, cols])
    zero = np.zeros_like(out)
    crossprod_ztwz(m.colptr, m.rowind, zcols, zvals, w, zero)
    full = sp.csc_matrix((zero, m.rowind, m.colptr), shape=(m.re.q, m.re.q)).toarray()
    assert np.array_equal(full, full.T)
    with pytest.raises(ValueError, match="one entry per entry"):
        crossprod_ztwz(m.colptr, m.rowind, zcols, zvals, w, np.zeros(3))


@pytest.mark.parametrize("formula", ["y ~ x + (x | g1) + (1 | g2)", "y ~ x + (1 | g1) + (1 | g2)"])
def test_blocked_assembly_at_every_width_equals_cholmod(formula):
    # g1 levels with many g2 levels each: a level has 4 or more columns in a block of the
    # Schur complement (four at a time), 2-3 (two at a time) or one (one at a time)
    d = _crossed(4000, 40, 30, 11)
    m = _model(formula, d)
    core = m.core
    rng = np.random.default_rng(2)
    thetas = [np.asarray(m.re.theta_start(), dtype=float)]
    thetas += [np.abs(rng.normal(size=core.ntheta)) + 0.1 for _ in range(2)]
    for theta in thetas:
        core.choose_factorization("cholmod")
        ref = core.objective(theta, True)
        ref_u = core.solve_A(np.ones(core.q))
        for width in (1, 2, 3, 5, 7, 0):
            core.choose_factorization("blocked", schur="dense", schur_width=width)
            assert core.factorization == "blocked"
            assert core.objective(theta, True) == pytest.approx(ref, rel=1e-12)
            np.testing.assert_allclose(core.solve_A(np.ones(core.q)), ref_u, rtol=1e-9, atol=1e-12)
