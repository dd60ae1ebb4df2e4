"""The compiled moment start (:func:`pymer._core._start.intercept_start`) is the numpy
computation it replaced, to the bit: np.bincount's row-order sums and ndarray.sum's
pairwise summation (the optimizer's path depends on the start's last digits)."""
from __future__ import annotations

import numpy as np
import pytest

from pymer._core._start import intercept_start, pairwise_sum


def _numpy_start(codes, nlev, r):
    """LinearMixedModel.start_theta's former numpy computation."""
    stats = []
    groups = []
    for c, L in zip(codes, nlev):
        cnt = np.bincount(c, minlength=L).astype(float)
        pos = cnt[cnt > 0]
        cbar = pos.sum() / pos.size if pos.size else 0.0
        groups.append((np.maximum(cnt, 1.0), cnt, (cnt.sum(), cbar)))
    for c, L, (cnt1, _, _) in zip(codes, nlev, groups):
        mean = np.bincount(c, weights=r, minlength=L) / cnt1
        d = r - mean[c]
        stats.append((mean, (d * d).sum() / max(r.size - L, 1)))
    s2 = min(w for _, w in stats)
    if not (np.isfinite(s2) and s2 > 0):
        return None
    tau2 = np.array([max((m * m * cnt).sum() / scl - s2 / cbar, 0.0) if cbar > 0 else 0.0
                     for (m, _), (_, cnt, (scl, cbar)) in zip(stats, groups)])
    theta = np.clip(np.sqrt(tau2 / s2), 0.01, 100.0)
    return theta if np.all(np.isfinite(theta)) else None


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 127, 128, 129, 1000, 8193, 73421])
def test_pairwise_sum_is_numpys(n):
    rng = np.random.default_rng(n)
    a = rng.normal(size=n) * 10.0 ** rng.integers(-6, 6, size=n)
    assert pairwise_sum(a) == a.sum()
    d = a - a[::-1]
    assert pairwise_sum(d * d) == (d * d).sum()


@pytest.mark.parametrize("seed", range(12))
def test_intercept_start_bitwise_as_numpy(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.choice([5, 60, 144, 1000, 20000]))
    nt = int(rng.integers(1, 4))
    nlev = [int(rng.integers(2, min(n, 3000) + 1)) for _ in range(nt)]
    codes = [rng.integers(0, L, n).astype(np.int64) for L in nlev]
    r = rng.normal(size=n) * 10.0 ** rng.integers(-4, 4)
    for c, L in zip(codes, nlev):
        r = r + rng.normal(size=L)[c]
    got, want = intercept_start(codes, nlev, r), _numpy_start(codes, nlev, r)
    assert (got is None) == (want is None)
    if want is not None:
        assert got.tobytes() == want.tobytes()


def test_intercept_start_declines_as_numpy():
    codes = [np.arange(6, dtype=np.int64) % 3]
    assert intercept_start(codes, [3], np.zeros(6)) is None         # s2 = 0
    assert _numpy_start(codes, [3], np.zeros(6)) is None
    r = np.array([1.0, 2.0, 3.0, 1.0, 2.0, 3.0])                    # no within-group variance
    assert intercept_start(codes, [3], r) is None
    with pytest.raises(IndexError, match="outside its 3 levels"):
        intercept_start([np.array([0, 3], dtype=np.int64)], [3], np.ones(2))
