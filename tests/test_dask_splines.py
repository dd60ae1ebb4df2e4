"""ns() and bs() in a formula on a Dask DataFrame: knots from exact order statistics over
all rows (pymer.dask.splines), the in-memory fit's answers, predictions with the training
knots."""
import numpy as np
import pandas as pd
import pytest

import pymer
from pymer.formula.syntax import _split_formula

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")

from test_dask_poly import _same, _sync  # noqa: E402,F401  (the synchronous scheduler, the 1e-8/1e-6 check)


def _knots(state):
    return {k: v for k, v in state.items() if k.startswith("basis:")}


def test_order_statistics_exact_through_histogram_passes(monkeypatch):
    from pymer.dask import splines

    monkeypatch.setattr(splines, "GATHER", 40)       # force several histogram passes
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.lognormal(0, 2, 3000), np.full(500, 7.25), [np.nan] * 5])
    rng.shuffle(x)
    parts = dd.from_pandas(pd.DataFrame({"x": x}), npartitions=6).to_delayed()
    node = _split_formula("y ~ ns(x, 5)")[1]
    ok = np.sort(x[~np.isnan(x)])
    ranks = [0, 1, 17, 1500, 2000, 2400, ok.size - 1]
    got = splines.order_statistics(parts, node, {}, ok[0], ok[-1], ranks, ok.size)
    assert got == {r: ok[r] for r in ranks}
    probs = np.linspace(0, 1, 6)[1:-1]
    stats = splines.order_statistics(parts, node, {}, ok[0], ok[-1], splines._quantile_ranks(ok.size, probs),
                                     ok.size)
    np.testing.assert_array_equal(splines._type7(stats, ok.size, probs), np.quantile(ok, probs))


def test_lmer_ns_bs_equal_in_memory_and_predict_with_training_knots():
    sl = pymer.datasets.load("sleepstudy")
    sl = sl.assign(t=sl["Days"] + np.random.default_rng(2).uniform(0, 0.5, len(sl)))
    sl.loc[7, "Reaction"] = np.nan                  # t of that row still counts, as in memory
    before = sl.copy()
    for f in ("Reaction ~ ns(t, 3) + (1 | Subject)",
              "Reaction ~ bs(t, df = 5) + (t | Subject)",
              "Reaction ~ splines::ns(t, df = 4, Boundary.knots = c(1, 8)) + (1 | Subject)"):
        m0 = pymer.lmer(f, sl)
        m1 = pymer.lmer(f, dd.from_pandas(sl, npartitions=4))
        _same(m0, m1)
        k0, k1 = _knots(m0.model.mf._spec.state), _knots(m1.model.design.mf._spec.state)
        assert k0.keys() == k1.keys()
        for k in k0:
            np.testing.assert_array_equal(k1[k]["knots"], k0[k]["knots"])
            assert k1[k]["boundary"] == k0[k]["boundary"]
    new = sl.iloc[::9].assign(t=lambda d: d["t"] * 1.2 - 0.5)    # beyond the training range
    p1 = m1.predict(dd.from_pandas(new, npartitions=2))
    assert isinstance(p1, dd.Series)
    np.testing.assert_allclose(p1.compute().to_numpy(), np.asarray(m0.predict(new)), rtol=1e-6)
    pd.testing.assert_frame_equal(sl, before)


def test_glmer_ns_equals_in_memory():
    cb = pymer.datasets.load("cbpp")
    cb["p"] = cb["period"].astype(int).astype(float) + np.random.default_rng(3).uniform(0, 1, len(cb))
    f = "cbind(incidence, size - incidence) ~ ns(p, 3) + (1 | herd)"
    m0 = pymer.glmer(f, cb, family="binomial")
    m1 = pymer.glmer(f, dd.from_pandas(cb, npartitions=3), family="binomial")
    _same(m0, m1)
    new = cb.iloc[::4]
    np.testing.assert_allclose(m1.predict(dd.from_pandas(new, npartitions=2), type="response").compute().to_numpy(),
                               np.asarray(m0.predict(new, type="response")), rtol=1e-6)
