"""pymer.lmer on a Dask DataFrame and lmer_many on a Dask cluster: the in-memory answers."""
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import pymer
from pymer.errors import FormulaError, MissingColumnError, PymerDataError

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")


def _quiet(f, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*a, **k)


def _same_fit(m0, m1):
    assert m1.objective == pytest.approx(m0.objective, rel=1e-8)
    np.testing.assert_allclose(m1.fixef.to_numpy(), m0.fixef.to_numpy(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(m1.theta, m0.theta, rtol=1e-5, atol=1e-7)
    assert m1.sigma == pytest.approx(m0.sigma, rel=1e-6)
    assert m1.nobs == m0.nobs
    assert m1.ngrps == m0.ngrps
    np.testing.assert_allclose(m1.vcov.to_numpy(), m0.vcov.to_numpy(), rtol=1e-5)
    pd.testing.assert_frame_equal(m1.varcorr, m0.varcorr, rtol=1e-5)
    for g in m0.ranef:
        pd.testing.assert_frame_equal(m1.ranef[g], m0.ranef[g], rtol=1e-5, atol=1e-7)


@pytest.fixture(scope="module")
def sleep(client):
    ss = pymer.datasets.load("sleepstudy")
    ddf = dd.from_pandas(ss, npartitions=4)
    f = "Reaction ~ Days + (Days | Subject)"
    return ss, ddf, pymer.lmer(f, ss), pymer.lmer(f, ddf)


def test_sleepstudy_partitions_equal_in_memory(sleep):
    ss, ddf, m0, m1 = sleep
    assert isinstance(m1, pymer.LMMResult)
    _same_fit(m0, m1)
    s0 = str(m0.summary()).replace("   Data: sleepstudy\n", "")
    assert str(m1.summary()) == s0
    np.testing.assert_allclose(m1.confint(method="wald").to_numpy(dtype=float),
                               m0.confint(method="wald").to_numpy(dtype=float), rtol=1e-6)
    np.testing.assert_allclose(m1.confint(parm=[".sig03", "Days"]).to_numpy(dtype=float),
                               m0.confint(parm=[".sig03", "Days"]).to_numpy(dtype=float), rtol=1e-4)
    a0, a1 = m0.anova(type=1).table, m1.anova(type=1).table
    np.testing.assert_allclose(a1.to_numpy(dtype=float), a0.to_numpy(dtype=float), rtol=1e-5)
    s0 = m0.summary(ddf="Satterthwaite").coefficients
    pd.testing.assert_frame_equal(m1.summary(ddf="Satterthwaite").coefficients, s0, rtol=1e-5)
    # type III (the default) on the Dask fit: tests/test_dask_glmm_lmm.py
    np.testing.assert_allclose(m1.anova().table.to_numpy(dtype=float), m0.anova().table.to_numpy(dtype=float),
                               rtol=1e-5)
    # Kenward-Roger from the summed cross-products [Z X]'W[Z X]
    k0 = m0.summary(ddf="Kenward-Roger").coefficients
    pd.testing.assert_frame_equal(m1.summary(ddf="Kenward-Roger").coefficients, k0, rtol=1e-5)
    with pytest.raises(NotImplementedError, match="simulate"):
        m1.simulate(2)


def test_sleepstudy_lazy_fitted_residuals_predict(sleep):
    ss, ddf, m0, m1 = sleep
    fit = m1.fitted
    assert isinstance(fit, dd.Series)
    np.testing.assert_allclose(fit.compute().to_numpy(), m0.fitted, rtol=1e-9)
    res = m1.residuals("pearson", scaled=True)
    assert isinstance(res, dd.Series)
    np.testing.assert_allclose(res.compute().to_numpy(),
                               m0.residuals("pearson", scaled=True), rtol=1e-6, atol=1e-9)
    new = ss.iloc[::7].assign(Subject=lambda d: d.Subject.astype(str))
    new.loc[new.index[0], "Subject"] = "999"
    p1 = m1.predict(dd.from_pandas(new, npartitions=3), allow_new_levels=True)
    assert isinstance(p1, dd.Series)
    np.testing.assert_allclose(p1.compute().to_numpy(), m0.predict(new, allow_new_levels=True),
                               rtol=1e-9)
    np.testing.assert_allclose(m1.predict(re_form="~0").compute().to_numpy(),
                               m0.predict(re_form="~0"), rtol=1e-9)
    with pytest.raises(PymerDataError, match="999"):
        m1.predict(dd.from_pandas(new, npartitions=2)).compute()


def _crossed(seed=11, n=3000):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 60, n)
    h = rng.integers(0, 25, n)
    trt = rng.choice(["ctl", "hi", "lo"], n)
    x = rng.normal(size=n)
    y = (2 + 0.5 * x + (trt == "hi") * 0.7 + rng.normal(0, 0.8, 60)[g] + rng.normal(0, 0.5, 25)[h]
         + rng.normal(0, 0.3, 60)[g] * x + rng.normal(size=n))
    df = pd.DataFrame({"y": y, "x": x, "trt": trt, "g": [f"g{i:02d}" for i in g],
                       "h": pd.Categorical([f"h{i}" for i in h],
                                           categories=[f"h{i}" for i in range(24, -1, -1)]),
                       "w": rng.uniform(0.5, 2, n)})
    df.loc[[5, 17, 400], "y"] = np.nan
    df.loc[[9, 1000], "x"] = np.nan
    df.loc[33, "g"] = None
    return df


def test_crossed_design_with_nan_rows_equals_in_memory(client, REML=True):
    df = _crossed()
    # sorted by g: each partition holds other levels of g (levels computed globally)
    ddf = dd.from_pandas(df.sort_values("g", na_position="first"), npartitions=5, sort=False)
    f = "y ~ x + trt + (x | g) + (1 | h)"
    m0 = _quiet(pymer.lmer, f, df, REML=REML)
    m1 = _quiet(pymer.lmer, f, ddf, REML=REML)
    _same_fit(m0, m1)
    assert m1.nobs == len(df) - 6 and m1.model.nobs_dropped == 6
    assert list(m1.ranef["h"].index) == [f"h{i}" for i in range(24, -1, -1)]


def test_scale_terms_use_all_rows(client):
    df = _crossed(seed=5)
    ddf = dd.from_pandas(df, npartitions=4)
    f = "y ~ scale(x) + scale(w, center = FALSE) + (scale(x) | g)"
    m0 = _quiet(pymer.lmer, f, df)
    m1 = _quiet(pymer.lmer, f, ddf)
    _same_fit(m0, m1)
    new = df.dropna().iloc[:40]
    np.testing.assert_allclose(m1.predict(dd.from_pandas(new, npartitions=2)).compute().to_numpy(),
                               m0.predict(new), rtol=1e-8)


def test_weights_and_offset_columns_ml(client):
    df = _crossed(seed=2).dropna()
    df["o"] = 0.1 * df["x"]
    ddf = dd.from_pandas(df, npartitions=3)
    f = "y ~ x + trt + (1 | g) + (1 | h)"
    m0 = _quiet(pymer.lmer, f, df, REML=False, weights="w", offset="o")
    m1 = _quiet(pymer.lmer, f, ddf, REML=False, weights="w", offset="o")
    _same_fit(m0, m1)
    assert m1.loglik == pytest.approx(m0.loglik, rel=1e-8)


@pytest.mark.parametrize("formula, kw, exc, pieces", [
    ("y ~ x + (1 | gg)", {}, MissingColumnError, ["gg", "'g'"]),
    ("y ~ ns(x, 2, Boundary.knots = c(100, 200)) + (1 | g)", {}, FormulaError,
     ["ns(x, 2, Boundary.knots = c(100, 200))", "no values inside"]),
    ("trt ~ x + (1 | g)", {}, PymerDataError, ["response 'trt'", "numeric"]),
    ("y ~ x + (1 | g)", {"weights": np.ones(3000)}, NotImplementedError, ["weights=", "column name"]),
    ("y ~ x + (1 | g)", {"offset": "oo"}, MissingColumnError, ["offset column 'oo'"]),
    ("c ~ x + (1 | g)", {}, PymerDataError, ["'c'", "constant"]),
])
def test_bad_input_same_errors(client, formula, kw, exc, pieces):
    df = _crossed().assign(c=5.0)
    before = df.copy()
    ddf = dd.from_pandas(df, npartitions=3)
    with pytest.raises(exc) as ei:
        _quiet(pymer.lmer, formula, ddf, **kw)
    for p in pieces:
        assert p in str(ei.value), (p, str(ei.value))
    pd.testing.assert_frame_equal(df, before)


def test_lmer_many_on_the_cluster_equals_in_process(client):
    rng = np.random.default_rng(4)
    n = 120
    meta = pd.DataFrame({"x": rng.normal(size=n), "ind": np.repeat([f"i{i}" for i in range(12)], 10),
                         "batch": np.tile([f"b{i}" for i in range(4)], 30)})
    Y = rng.normal(size=(n, 9)) + rng.normal(size=(12, 9)).repeat(10, axis=0)
    Y[4, 3] = np.nan
    rhs = "~ x + (1 | ind) + (1 | batch)"
    local = _quiet(pymer.lmer_many, rhs, Y, meta)
    on_cluster = _quiet(pymer.lmer_many, rhs, Y, meta, client=client)
    on_array = _quiet(pymer.lmer_many, rhs, da.from_array(Y, chunks=(n, 4)), meta)
    for other in (on_cluster, on_array):
        # blocks of other widths round differently (BLAS): the same optimum, not the same bits
        pd.testing.assert_series_equal(other.objective, local.objective, rtol=1e-10)
        pd.testing.assert_frame_equal(other.fixef, local.fixef, rtol=1e-6, atol=1e-7)
    m = _quiet(pymer.lmer, "y " + rhs, meta.assign(y=Y[:, 3]))
    assert on_cluster.objective.iloc[3] == pytest.approx(m.objective, rel=1e-8)
    assert on_array.fit(3).nobs == n - 1


def test_pymer_works_without_dask():
    code = ("import sys; sys.modules['dask'] = None; sys.modules['distributed'] = None\n"
            "import numpy as np, pymer\n"
            "ss = pymer.datasets.load('sleepstudy')\n"
            "f = pymer.lmer_many('~ Days + (1 | Subject)', np.c_[ss.Reaction, ss.Reaction ** 0.5], ss)\n"
            "assert f.converged.all()\n"
            "assert 'dask' not in [k for k, v in sys.modules.items() if v is not None]\n")
    env = {"PYTHONPATH": str(__import__("pathlib").Path(pymer.__file__).parents[1])}
    import os
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, **env})
    assert out.returncode == 0, out.stderr
