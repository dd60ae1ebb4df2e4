"""Data in: pandas, polars (eager and lazy), pyarrow and dicts of arrays give the same fits;
bundled data sets carry their name and their documentation."""
import numpy as np
import pandas as pd
import pytest

import pymer
from pymer import datasets

FORMULA = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def pl():
    return pytest.importorskip("polars")


@pytest.fixture(scope="module")
def sleep():
    return datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def reference(sleep):
    return pymer.lmer(FORMULA, sleep)


def same_fit(a, b):
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-10)
    np.testing.assert_allclose(a.fixef.to_numpy(), b.fixef.to_numpy(), rtol=1e-10)
    assert list(a.fixef.index) == list(b.fixef.index)
    assert a.objective == pytest.approx(b.objective, rel=1e-12)
    assert a.ngrps == b.ngrps


def polars_sleep(pl, sleep):
    return pl.DataFrame({"Reaction": sleep["Reaction"].to_numpy(), "Days": sleep["Days"].to_numpy(),
                         "Subject": sleep["Subject"].astype(str).tolist()})


def test_polars_eager_lazy_and_dict_of_series(pl, sleep, reference):
    df = polars_sleep(pl, sleep)
    same_fit(pymer.lmer(FORMULA, df), reference)
    same_fit(pymer.lmer(FORMULA, df.lazy()), reference)
    same_fit(pymer.lmer(FORMULA, {c: df[c] for c in df.columns}), reference)


def test_dict_of_numpy_arrays_and_lists(sleep, reference):
    d = {"Reaction": sleep["Reaction"].to_numpy(), "Days": sleep["Days"].tolist(),
         "Subject": np.asarray(sleep["Subject"].astype(str))}
    same_fit(pymer.lmer(FORMULA, d), reference)


def test_pyarrow_table(sleep, reference):
    pa = pytest.importorskip("pyarrow")
    t = pa.table({"Reaction": sleep["Reaction"].to_numpy(), "Days": sleep["Days"].to_numpy(),
                  "Subject": sleep["Subject"].astype(str).tolist()})
    same_fit(pymer.lmer(FORMULA, t), reference)


def test_polars_enum_keeps_level_order_and_categorical_sorts(pl):
    d = datasets.load("lamprey_adult_lab_DNA")
    d["Copies_2"] = np.log10(d["Copies"].fillna(0) + 1)
    levels = ["0L", "2L", "20L", "200L"]
    d["stock"] = pd.Categorical(d["stock"], categories=levels)
    ref = pymer.lmer("Copies_2 ~ stock + (1 | Sample)", d)
    assert list(ref.fixef.index) == ["(Intercept)", "stock2L", "stock20L", "stock200L"]
    cols = {c: d[c].astype(str).tolist() if c in ("stock", "Sample", "tank") else d[c].to_numpy()
            for c in ["Copies_2", "stock", "Sample", "tank"]}
    enum = pl.DataFrame(cols).with_columns(pl.col("stock").cast(pl.Enum(levels)))
    same_fit(pymer.lmer("Copies_2 ~ stock + (1 | Sample)", enum), ref)
    # a polars Categorical has no level order of its own: R's sorted levels, as for strings
    cat = pl.DataFrame(cols).with_columns(pl.col("stock").cast(pl.Categorical))
    m = pymer.lmer("Copies_2 ~ stock + (1 | Sample)", cat)
    assert list(m.fixef.index) == ["(Intercept)", "stock200L", "stock20L", "stock2L"]
    assert m.objective == pytest.approx(ref.objective, rel=1e-10)


def test_polars_nulls_are_missing_values(pl, sleep, reference):
    df = polars_sleep(pl, sleep)
    r = df["Reaction"].to_list()
    r[3] = None
    r[50] = None
    with_nulls = df.with_columns(pl.Series("Reaction", r, dtype=pl.Float64))
    m = pymer.lmer(FORMULA, with_nulls)
    pdf = sleep.copy()
    pdf.loc[[3, 50], "Reaction"] = np.nan
    same_fit(m, pymer.lmer(FORMULA, pdf))
    assert m.nobs == 178


def test_load_sets_name_and_summary_prints_it(reference):
    for name in datasets.list_datasets():
        if name != "InstEval":                      # large; covered by its own tests
            assert datasets.load(name).attrs["name"] == name
    assert "   Data: sleepstudy" in str(reference.summary())


def test_describe_every_dataset():
    for name in datasets.list_datasets():
        text = datasets.describe(name)
        assert text.startswith(f"{name}: ")
        assert "Source:" in text and "Columns:" in text and "Example:" in text
        title, columns, source, example = datasets._DOCS[name]
        header = pd.read_csv(datasets._data_dir().joinpath(f"{name}.csv"), nrows=0).columns
        assert set(columns) == {c for c in header if not c.startswith("Unnamed")}, name
    assert "Belenky" in datasets.describe("sleepstudy")
    assert "log10(Copies + 1)" in datasets.describe("lamprey_adult_lab_DNA")
    with pytest.raises(KeyError, match="did you mean 'sleepstudy'"):
        datasets.describe("sleepstudie")
