"""poly() in a formula on a Dask DataFrame: R's coefficients over all rows (pymer.dask.poly),
the in-memory fit's answers, predictions with the training coefficients, poly()'s errors."""
import warnings

import numpy as np
import pandas as pd
import pytest

import pymer
from pymer.errors import FormulaError
from pymer.formula.splines import poly_basis

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")


@pytest.fixture(autouse=True)
def _sync():
    with dask.config.set(scheduler="synchronous"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _same(m0, m1):
    assert m1.objective == pytest.approx(m0.objective, rel=1e-8)
    assert list(m1.fixef.index) == list(m0.fixef.index)
    np.testing.assert_allclose(m1.fixef.to_numpy(), m0.fixef.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(m1.theta, m0.theta, rtol=1e-6, atol=1e-7)


def test_poly_coefficients_from_passes_equal_in_memory():
    from pymer.dask.poly import poly_calls, poly_state

    x = np.random.default_rng(0).normal(3, 2, 3000)
    _, coefs = poly_basis(x, 4, "poly(x, 4)")
    got = poly_state(dd.from_pandas(pd.DataFrame({"x": x}), npartitions=5).to_delayed(),
                     poly_calls("y ~ poly(x, 4) + (1 | g)"), {})["basis:poly(x, 4)"]
    np.testing.assert_allclose(got["alpha"], coefs["alpha"], rtol=1e-13)
    np.testing.assert_allclose(got["norm2"], coefs["norm2"], rtol=1e-12)


def test_lmer_poly_equals_in_memory_and_predicts_with_training_coefficients():
    sl = pymer.datasets.load("sleepstudy")
    f = "Reaction ~ poly(Days, 3) + poly(scale(Days), 2, raw = TRUE) + (1 | Subject)"
    m0 = pymer.lmer(f, sl)
    m1 = pymer.lmer(f, dd.from_pandas(sl, npartitions=4))
    _same(m0, m1)
    new = sl.iloc[::7].copy()
    new["Days"] = new["Days"] * 1.3 + 0.5               # other x: the training basis is used
    p1 = m1.predict(dd.from_pandas(new, npartitions=2))
    assert isinstance(p1, dd.Series)
    np.testing.assert_allclose(p1.compute().to_numpy(), np.asarray(m0.predict(new)), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(m1.predict(new)), np.asarray(m0.predict(new)), rtol=1e-6)


def test_glmer_poly_equals_in_memory():
    cb = pymer.datasets.load("cbpp")
    cb["p"] = cb["period"].astype(int).astype(float) ** 1.5
    f = "cbind(incidence, size - incidence) ~ poly(p, 2) + (1 | herd)"
    m0 = pymer.glmer(f, cb, family="binomial")
    m1 = pymer.glmer(f, dd.from_pandas(cb, npartitions=3), family="binomial")
    _same(m0, m1)
    assert m1.deviance == pytest.approx(m0.deviance, rel=1e-8)
    new = cb.iloc[::5]
    p1 = m1.predict(dd.from_pandas(new, npartitions=2), type="response").compute().to_numpy()
    np.testing.assert_allclose(p1, np.asarray(m0.predict(new, type="response")), rtol=1e-6)


def test_poly_with_few_factor_combinations():
    # three levels and no other factor: the template alone has three rows, fewer than
    # poly(x, 3) needs; pymer adds rows of distinct x to it
    rng = np.random.default_rng(4)
    n = 300
    df = pd.DataFrame({"g": rng.choice(["a", "b", "c"], n), "x": rng.uniform(0, 4, n)})
    df["y"] = np.sin(df["x"]) + df["g"].map({"a": 0.3, "b": -0.2, "c": 0.0}) + rng.normal(0, 0.3, n)
    df.loc[5, "y"] = np.nan                         # poly() is evaluated on all rows, as in memory
    f = "y ~ poly(x, 3) + (1 | g)"
    _same(pymer.lmer(f, df), pymer.lmer(f, dd.from_pandas(df, npartitions=3)))


def test_poly_errors_as_in_memory():
    sl = pymer.datasets.load("sleepstudy")
    bad = sl.copy()
    bad.loc[17, "Days"] = np.nan
    for data, f in ((bad, "Reaction ~ poly(Days, 2) + (1 | Subject)"),
                    (sl, "Reaction ~ poly(Days, 10) + (1 | Subject)")):
        with pytest.raises(FormulaError) as e0:
            pymer.lmer(f, data)
        with pytest.raises(FormulaError) as e1:
            pymer.lmer(f, dd.from_pandas(data, npartitions=3))
        assert str(e1.value) == str(e0.value)
    assert bad["Days"].isna().sum() == 1                # the caller's data unchanged


def test_aliased_poly_columns_dropped_as_in_memory():
    # poly(x, 2, raw = TRUE) lies in the span of the intercept and poly(x, 2): the Dask
    # path judges the columns on R of the stacked partitions' QR (not on X'X, whose
    # rounding kept the first raw column) and drops exactly the in-memory columns
    sl = pymer.datasets.load("sleepstudy")
    f = "Reaction ~ poly(Days, 2) + poly(Days, 2, raw = TRUE) + (1 | Subject)"
    m0 = pymer.lmer(f, sl)
    m1 = pymer.lmer(f, dd.from_pandas(sl, npartitions=4))
    assert m1.model.dropped_fixef == m0.model.dropped_fixef == ["poly(Days, 2, raw = TRUE)1",
                                                                "poly(Days, 2, raw = TRUE)2"]
    _same(m0, m1)
    cb = pymer.datasets.load("cbpp")
    cb["p"] = cb["period"].astype(int).astype(float)
    f = "cbind(incidence, size - incidence) ~ poly(p, 2) + poly(p, 2, raw = TRUE) + (1 | herd)"
    g0 = pymer.glmer(f, cb, family="binomial")
    g1 = pymer.glmer(f, dd.from_pandas(cb, npartitions=3), family="binomial")
    assert g1.model.dropped_fixef == g0.model.dropped_fixef
    _same(g0, g1)
