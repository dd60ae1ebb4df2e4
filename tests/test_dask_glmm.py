"""pymer.glmer on a Dask DataFrame: the in-memory answers, lazy per-row results, the
in-memory errors for bad input."""
import warnings

import numpy as np
import pandas as pd
import pytest

import pymer
from pymer.errors import MissingColumnError, PymerDataError

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


def _quiet(f, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*a, **k)


def _same_fit(m0, m1):
    assert m1.objective == pytest.approx(m0.objective, rel=1e-8)
    assert m1.deviance == pytest.approx(m0.deviance, rel=1e-8)
    np.testing.assert_allclose(m1.fixef.to_numpy(), m0.fixef.to_numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(m1.theta, m0.theta, rtol=1e-6, atol=1e-7)
    assert m1.nobs == m0.nobs
    assert m1.ngrps == m0.ngrps
    np.testing.assert_allclose(m1.vcov.to_numpy(), m0.vcov.to_numpy(), rtol=1e-4, atol=1e-8)
    pd.testing.assert_frame_equal(m1.varcorr, m0.varcorr, rtol=1e-5)
    for g in m0.ranef:
        pd.testing.assert_frame_equal(m1.ranef[g], m0.ranef[g], rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def cbpp(client):
    df = pymer.datasets.load("cbpp")
    ddf = dd.from_pandas(df, npartitions=3)
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    return df, ddf, f, {a: (pymer.glmer(f, df, family="binomial", nAGQ=a),
                            pymer.glmer(f, ddf, family="binomial", nAGQ=a)) for a in (0, 1)}


@pytest.mark.parametrize("nagq", [0, 1])
def test_cbpp_binomial_equals_in_memory(cbpp, nagq):
    df, ddf, f, fits = cbpp
    m0, m1 = fits[nagq]
    assert isinstance(m1, pymer.GLMMResult)
    _same_fit(m0, m1)
    s0 = str(m0.summary()).replace("   Data: cbpp\n", "")
    assert str(m1.summary()) == s0
    np.testing.assert_allclose(m1.confint(method="wald").to_numpy(dtype=float),
                               m0.confint(method="wald").to_numpy(dtype=float), rtol=1e-5)


def test_cbpp_lazy_results_and_anova(cbpp):
    df, ddf, f, fits = cbpp
    m0, m1 = fits[1]
    fit = m1.fitted
    assert isinstance(fit, dd.Series)
    np.testing.assert_allclose(fit.compute().to_numpy(), m0.fitted, rtol=1e-6)
    for kind in ("deviance", "pearson", "response", "working"):
        r = m1.residuals(kind)
        assert isinstance(r, dd.Series)
        np.testing.assert_allclose(r.compute().to_numpy(), m0.residuals(kind), rtol=1e-5, atol=1e-7)
    new = df.iloc[::3]
    p = m1.predict(dd.from_pandas(new, npartitions=2), type="response")
    assert isinstance(p, dd.Series)
    np.testing.assert_allclose(p.compute().to_numpy(), m0.predict(new, type="response"), rtol=1e-6)
    np.testing.assert_allclose(m1.predict(new), m0.predict(new), rtol=1e-6)
    # anova between two Dask fits equals the in-memory one
    g = "cbind(incidence, size - incidence) ~ 1 + (1 | herd)"
    m0, m1 = fits[0]
    a0 = m0.anova(pymer.glmer(g, df, family="binomial", nAGQ=0)).table
    a1 = m1.anova(pymer.glmer(g, ddf, family="binomial", nAGQ=0)).table
    np.testing.assert_allclose(a1.to_numpy(dtype=float), a0.to_numpy(dtype=float), rtol=1e-6)
    with pytest.raises(NotImplementedError, match="simulate"):
        m1.simulate(2)
    with pytest.raises(NotImplementedError, match="gather"):
        m1.getme("mu")
    # a new response in place (the bootstrap's path) is refused as with_response is
    with pytest.raises(NotImplementedError, match="update\\(data="):
        m1.model.set_response(np.zeros(len(df)))


def _counts(seed=3, n=2400):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 40, n)
    h = rng.integers(0, 12, n)
    x = rng.normal(size=n)
    trt = rng.choice(["a", "b", "c"], n)
    expo = rng.uniform(0.5, 3, n)
    eta = 0.3 + 0.4 * x + 0.3 * (trt == "b") + rng.normal(0, 0.6, 40)[g] + rng.normal(0, 0.3, 12)[h]
    y = rng.poisson(expo * np.exp(eta)).astype(float)
    yb = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float)
    df = pd.DataFrame({"y": y, "yb": yb, "x": x, "trt": trt, "g": [f"g{i:02d}" for i in g],
                       "h": [f"h{i:02d}" for i in h], "logE": np.log(expo)})
    df.loc[[4, 77], "x"] = np.nan
    df.loc[300, "g"] = None
    return df


@pytest.fixture(scope="module")
def counts(client):
    df = _counts()
    # sorted by g: each partition holds other levels of the text column g
    ddf = dd.from_pandas(df.sort_values("g", na_position="last"), npartitions=4, sort=False)
    return df, ddf


def test_poisson_offset_crossed_equals_in_memory(counts):
    df, ddf = counts
    f = "y ~ x + trt + (1 | g) + (1 | h)"
    m0 = _quiet(pymer.glmer, f, df, family="poisson", offset="logE", nAGQ=0)
    m1 = _quiet(pymer.glmer, f, ddf, family="poisson", offset="logE", nAGQ=0)
    _same_fit(m0, m1)
    assert m1.model.nobs_dropped == 3


def test_binary_text_response_equals_in_memory(counts):
    df, ddf = counts
    # a text response is a factor of the levels of all rows: partitions sorted by it hold
    # one level each
    d2 = df.assign(yb=np.where(df.yb == 1, "yes", "no")).sort_values("yb")
    f = "yb ~ x + (1 | g)"
    m0 = _quiet(pymer.glmer, f, df, family="binomial")
    m1 = _quiet(pymer.glmer, f, dd.from_pandas(d2, npartitions=3, sort=False), family="binomial")
    _same_fit(m0, m1)


@pytest.mark.parametrize("formula, family, kw, exc, pieces", [
    ("y ~ x + (1 | gg)", "poisson", {}, MissingColumnError, ["gg"]),
    ("y ~ x + (1 | g)", "binomial", {}, PymerDataError, ["0 <= y <= 1", "'y'"]),
    ("yneg ~ x + (1 | g)", "poisson", {}, PymerDataError, ["negative values not allowed", "'yneg'"]),
    ("trt ~ x + (1 | g)", "poisson", {}, PymerDataError, ["factor", "poisson family"]),
    ("y ~ x + (1 | g)", "Gamma", {}, NotImplementedError, ["Gamma"]),
    ("y ~ x + (1 | g)", "poisson", {"nAGQ": 2}, NotImplementedError, ["nAGQ"]),
    ("c ~ x + (1 | g)", "poisson", {}, PymerDataError, ["constant"]),
])
def test_bad_input_same_errors(counts, formula, family, kw, exc, pieces):
    df = _counts().assign(yneg=lambda d: d.y - 1, c=2.0)
    before = df.copy()
    ddf = dd.from_pandas(df, npartitions=3)
    with pytest.raises(exc) as ei:
        _quiet(pymer.glmer, formula, ddf, family=family, **kw)
    for p in pieces:
        assert p in str(ei.value), (p, str(ei.value))
    pd.testing.assert_frame_equal(df, before)
    if exc is PymerDataError and "factor" not in pieces:
        with pytest.raises(exc) as e0:
            _quiet(pymer.glmer, formula, df, family=family, **kw)
        assert str(e0.value).split(":")[0] == str(ei.value).split(":")[0]


def test_glmer_nb_on_dask_is_a_clear_error():
    ddf = dd.from_pandas(_counts(n=200), npartitions=2)
    with pytest.raises(NotImplementedError, match="glmer_nb.*NegativeBinomial"):
        pymer.glmer_nb("y ~ x + (1 | g)", ddf)
