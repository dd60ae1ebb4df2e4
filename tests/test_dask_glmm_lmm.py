"""Type III F tests of pymer.lmer on a Dask DataFrame: the in-memory table, with
Satterthwaite's and Kenward-Roger's df (both from the summed cross-products)."""
import warnings

import numpy as np
import pytest

import pymer

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


def test_type3_anova_equals_in_memory():
    from test_dask import _crossed

    df = _crossed()
    ddf = dd.from_pandas(df.sort_values("g", na_position="first"), npartitions=4, sort=False)
    f = "y ~ x * trt + scale(w) + (1 | g) + (1 | h)"
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m0, m1 = pymer.lmer(f, df), pymer.lmer(f, ddf)
            a0, a1 = m0.anova(), m1.anova(type="III")
        assert list(a1.table.index) == list(a0.table.index)
        np.testing.assert_allclose(a1.table.to_numpy(dtype=float), a0.table.to_numpy(dtype=float), rtol=1e-6)
        assert str(a1) == str(a0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            k0, k1 = m0.anova(ddf="Kenward-Roger"), m1.anova(ddf="Kenward-Roger")
        np.testing.assert_allclose(k1.table.to_numpy(dtype=float), k0.table.to_numpy(dtype=float), rtol=1e-6)
        assert not np.allclose(k1.table["DenDF"].to_numpy(dtype=float), a1.table["DenDF"].to_numpy(dtype=float))
