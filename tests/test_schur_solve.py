"""The sparse Schur complement's supernodal solves (_schur_solve.pyx): forward, backward
and both, on more right-hand sides than one chunk, equal CHOLMOD's and the dense Schur
complement's (same L up to the order of its rows: compared through L L' = A + I)."""
import numpy as np
import pandas as pd
import pytest

from pymer._core._schur_solve import sparse_work_size
from pymer.formula import parse_formula
from pymer.lmm import LinearMixedModel


@pytest.fixture(scope="module")
def core():
    rng = np.random.default_rng(3)
    n, ng, nh = 1200, 200, 360
    g = rng.integers(0, ng, n)
    h = (g * 5 + rng.integers(0, 14, n)) % nh
    d = pd.DataFrame({"g": g.astype(str), "h": h.astype(str), "x": rng.standard_normal(n),
                      "y": rng.standard_normal(n)})
    return LinearMixedModel(parse_formula("y ~ x + (x | g) + (1 | h)", d), REML=True).core


@pytest.mark.parametrize("ncol", [1, 31, 32, 33, 70])
def test_solves_equal_cholmod_and_dense(core, ncol):
    theta = np.array([0.9, 0.3, 0.7, 1.3])
    B = np.random.default_rng(ncol).standard_normal((core.q, ncol))
    out = {}
    for mode in ("cholmod", "dense", "sparse"):
        if mode == "cholmod":
            core.choose_factorization("cholmod")
        else:
            core.choose_factorization("blocked", schur=mode)
            assert core.sparse_schur == (mode == "sparse")
        core.set_theta(theta)
        core.update()
        fwd = core.solve_L(B)
        # the backward solve alone on L^-1 P B gives A^-1 B
        bwd = core._solve(fwd, "bwd")
        out[mode] = (fwd.T @ fwd, core.solve_A(B), bwd, core.logdetL)
    for mode in ("dense", "sparse"):
        for got, ref in zip(out[mode], out["cholmod"]):
            np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-11, err_msg=mode)
    np.testing.assert_allclose(out["sparse"][1], out["sparse"][2], rtol=1e-12, atol=1e-13)


def test_work_size_covers_the_compact_blocks_and_a_chunk():
    sup = np.array([0, 2, 5], dtype=np.int64)
    spi = np.array([0, 4, 7], dtype=np.int64)      # supernode 0: 2 columns, 2 rows below
    # update panel max(q2, 2 * min(2, SCHUR_PANEL)) = 5, compact 2 * 2, right-hand sides
    # 5 * 32, products 2 * 32
    assert sparse_work_size(sup, spi, 5) == 5 + 4 + 5 * 32 + 2 * 32
    # a supernode with 100 rows below: its panel is 100 x 64
    spi = np.array([0, 102, 105], dtype=np.int64)
    assert sparse_work_size(sup, spi, 5) == 6400 + 200 + 5 * 32 + 100 * 32
