"""The blocked factorization's Schur complement (_schur.pyx set-up, _blocked.pyx numeric):
dense or supernodal in a fill-reducing order, assembled a block of columns at a time (one
column, a few, all); every combination gives CHOLMOD's objective, solves and conditional
variances, and "auto" picks the sparse form where it saves flops (InstEval)."""
import warnings

import numpy as np
import pandas as pd
import pytest

import pymer
from pymer._core._schur import a22_entries, level_entries, schur_pattern
from pymer._core._selinv import diag_blocks_inverse
from pymer.formula import parse_formula
from pymer.lmm import LinearMixedModel

MODES = [(schur, width) for schur in ("dense", "sparse") for width in (1, 7, 100000)]


def _crossed(seed, k1, n=900, ng=150, nh=320):
    """A crossed design whose Schur block (h, and j) is large and sparse: each level of g
    meets a few levels of h."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, ng, n)
    h = (g * 7 + rng.integers(0, 12, n)) % nh          # g's levels reach few h's: S sparse
    d = pd.DataFrame({"g": g.astype(str), "h": h.astype(str), "j": rng.integers(0, 5, n).astype(str),
                      "x": rng.standard_normal(n), "y": rng.standard_normal(n)})
    first = {1: "(1 | g)", 2: "(x | g)", 3: "(x + I(x^2) | g)"}[k1]
    return LinearMixedModel(parse_formula(f"y ~ x + {first} + (1 | h) + (1 | j)", d), REML=True)


def _state(core, theta, reml):
    obj = core.objective(theta, reml)
    B = np.random.default_rng(1).standard_normal((core.q, 3))
    u = core.solve_u(core.solve_fixed())
    return dict(obj=obj, logdetL=core.logdetL, pwrss=core.pwrss, RX=np.abs(core.RX),
                A=core.solve_A(B), u=u, cv=diag_blocks_inverse(core))


@pytest.mark.parametrize("k1", [1, 2, 3])
def test_every_schur_form_equals_cholmod(k1):
    model = _crossed(k1, k1)
    core = model.core
    lower = model.re.lower_bounds()
    rng = np.random.default_rng(5)
    for _ in range(2):
        theta = np.where(lower == 0, rng.uniform(0.2, 1.5, lower.size), rng.uniform(-0.5, 0.5, lower.size))
        core.choose_factorization("cholmod")
        ref = _state(core, theta, True)
        for schur, width in MODES:
            core.choose_factorization("blocked", schur=schur, schur_width=width)
            assert core.sparse_schur == (schur == "sparse")
            assert core.schur_width == min(width, core.q2)
            got = _state(core, theta, True)
            assert got["obj"] == pytest.approx(ref["obj"], rel=1e-11), (schur, width)
            assert got["logdetL"] == pytest.approx(ref["logdetL"], rel=1e-10)
            assert got["pwrss"] == pytest.approx(ref["pwrss"], rel=1e-9)
            for key in ("RX", "A", "u", "cv"):
                np.testing.assert_allclose(got[key], ref[key], rtol=1e-8, atol=1e-10, err_msg=key)


def test_copy_keeps_the_schur_form_and_its_own_scratch():
    model = _crossed(3, 1)
    core = model.core
    core.choose_factorization("blocked", schur="sparse", schur_width=5)
    theta = np.array([0.7, 0.9, 0.4])
    ref = core.objective(theta, True)
    other = core.copy()
    assert other.sparse_schur and other.schur_width == 5
    assert other.objective(np.array([0.2, 0.3, 0.1]), True) != ref
    assert core.objective(theta, True) == ref
    assert other.objective(theta, True) == ref


def test_not_positive_definite_is_a_status_not_a_crash():
    model = _crossed(4, 1)
    core = model.core
    core.choose_factorization("blocked", schur="sparse")
    assert np.isfinite(core.objective(np.array([0.5, 0.5, 0.5]), True))
    assert core.objective(np.array([np.nan, 0.5, 0.5]), True) == np.inf


def test_index_lists_describe_the_pattern():
    model = _crossed(6, 2)
    core = model.core
    core.choose_factorization("blocked")
    cp, ri, q1, k1, q2 = model.colptr, model.rowind, core.q1, core.k1, core.q2
    pinv = np.random.default_rng(0).permutation(q2)
    lstart, erow, esrc = level_entries(cp, ri, q1, k1, pinv)
    assert lstart[-1] == erow.size
    for b in range(q1 // k1):
        s, e = lstart[b], lstart[b + 1]
        p0 = cp[b * k1] + k1
        assert np.all(np.diff(erow[s:e]) > 0)                       # sorted in the order
        np.testing.assert_array_equal(erow[s:e], pinv[ri[p0 + esrc[s:e]] - q1])
    a22ptr, a22row, a22pos = a22_entries(cp, ri, q1, pinv)
    cols = np.repeat(np.arange(q2), np.diff(a22ptr))
    assert np.all(a22row >= cols)                                    # lower triangle
    # the pattern holds every pair a level couples and the diagonal
    scp, sri = schur_pattern(cp, ri, q1, k1)
    assert np.all(np.diff(scp) >= 1) and np.all(sri[scp[1:] - 1] == np.arange(q2))


@pytest.mark.parametrize("k1", [1, 2, 3])
def test_schur_pattern_is_that_of_a22_plus_b_bt(k1):
    """The compiled pattern equals SciPy's B B' + A22 + I (B: which rows each level of the
    first term couples), upper triangle, rows sorted; A22 couples h and j here."""
    import scipy.sparse as sp
    model = _crossed(10 + k1, k1)
    core = model.core
    core.choose_factorization("blocked")
    cp, ri, q1, q2 = np.asarray(model.colptr), np.asarray(model.rowind), core.q1, core.q2
    nb1 = q1 // k1
    rows, cols = [], []
    for b in range(nb1):
        r = ri[cp[b * k1] + k1:cp[b * k1 + 1]] - q1
        rows.append(r)
        cols.append(np.full(r.size, b))
    B = sp.csc_matrix((np.ones(sum(r.size for r in rows)), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(q2, nb1))
    c = np.repeat(np.arange(q1, core.q), np.diff(cp[q1:]))
    r = ri[cp[q1]:]
    keep = r >= q1
    A22 = sp.csc_matrix((np.ones(int(keep.sum())), (r[keep] - q1, c[keep] - q1)), shape=(q2, q2))
    assert sp.tril(A22, -1).nnz > 0
    S = sp.triu((B @ B.T + A22 + sp.identity(q2)).tocsc(), format="csc")
    S.sort_indices()
    scp, sri = schur_pattern(cp, ri, q1, k1)
    np.testing.assert_array_equal(scp, S.indptr)
    np.testing.assert_array_equal(sri, S.indices)


@pytest.fixture(scope="module")
def insteval():
    return pymer.datasets.load("InstEval")


def test_auto_factors_insteval_sparse_with_a_fifth_of_the_flops(insteval):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LinearMixedModel(parse_formula("y ~ service + (1 | s) + (1 | d) + (1 | dept)", insteval),
                                 REML=False)
    core = model.core
    assert core.factorization == "blocked" and core.sparse_schur and core.schur_width < core.q2
    assert core.schur_flops < 0.3 * core.q2 ** 3 / 3
    theta = np.array([0.3, 0.5, 0.2])
    got = core.objective(theta, False)
    core.choose_factorization("blocked", schur="dense", schur_width=core.q2)
    assert got == pytest.approx(core.objective(theta, False), rel=1e-12)


def test_bad_schur_options_are_named():
    sleep = pymer.datasets.load("sleepstudy")
    m = LinearMixedModel(parse_formula("Reaction ~ Days + (Days | Subject)", sleep))
    with pytest.raises(ValueError, match="schur must be"):
        m.core.choose_factorization("auto", schur="supernodal")
    with pytest.raises(ValueError, match="schur_width must be"):
        m.core.choose_factorization("auto", schur_width=-1)


def test_sparse_schur_recovers_after_a_failed_factorization():
    """The supernodal factorization zeroes the buffer's entries below its diagonal blocks
    as it takes them to their compact blocks, and the next assembly relies on it: after a
    factorization that fails (here at its first supernode: A22's diagonal made negative),
    the next one still gives the objective of a fresh core."""
    model = _crossed(3, 1)
    core = model.core
    core.choose_factorization("blocked", schur="sparse")
    theta = np.full(model.re.lower_bounds().size, 0.8)
    ref = core.objective(theta, True)
    ztz = np.asarray(core.ztz).copy()
    cp, ri = np.asarray(model.colptr), np.asarray(model.rowind)
    bad = ztz.copy()
    for j in range(core.q1, core.q):
        bad[cp[j] + np.searchsorted(ri[cp[j]:cp[j + 1]], j)] = -1e6
    core.set_crossprods(bad, core.ZtXy, core.XytXy)
    assert core.objective(theta, True) == np.inf
    assert core.status == 1
    core.set_crossprods(ztz, core.ZtXy, core.XytXy)
    assert core.objective(theta, True) == ref
    assert core.objective(theta, True) == ref
