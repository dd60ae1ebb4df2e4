"""The bundled data sets load with lme4's column types."""
import json
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from pymer import datasets

EXPECTED = {
    "Arabidopsis", "Dyestuff", "Dyestuff2", "InstEval", "Pastes", "Penicillin", "VerbAgg",
    "batMass", "cake", "cbpp", "grouseticks", "lamprey_adult_lab_DNA", "lamprey_lab_DNA",
    "robinson_sites", "robinson_sites_counts", "sleepstudy",
}


def _types():
    path = resources.files("pymer.datasets").joinpath("data", "lme4_datasets_types.json")
    return json.loads(path.read_text(encoding="utf-8"))


def test_list_datasets():
    names = datasets.list_datasets()
    assert set(names) == EXPECTED
    assert names == sorted(names)


@pytest.mark.parametrize("name", sorted(set(_types()) - {"InstEval"}))
def test_lme4_types(name):
    spec = _types()[name]
    d = datasets.load(name)
    assert len(d) == spec["rows"]
    assert list(d.columns) == list(spec["columns"])
    for col, t in spec["columns"].items():
        s = d[col]
        if t["type"] in ("factor", "ordered"):
            assert isinstance(s.dtype, pd.CategoricalDtype), col
            assert list(s.cat.categories) == t["levels"], col
            assert s.cat.ordered == (t["type"] == "ordered"), col
            assert not s.isna().any(), col
        else:
            assert pd.api.types.is_numeric_dtype(s.dtype), col


def test_insteval_dept_is_a_factor():
    d = datasets.load("InstEval")
    assert d.shape == (73421, 7)
    # R: levels(InstEval$dept) -- not numeric order
    assert list(d["dept"].cat.categories) == ["15", "5", "10", "12", "6", "7", "4", "8", "9", "14", "1",
                                              "3", "11", "2"]
    assert d["studage"].cat.ordered
    assert d["y"].dtype == np.int64


def test_sleepstudy_values():
    d = datasets.load("sleepstudy")
    assert d["Reaction"].iloc[0] == 249.56 and d["Days"].iloc[1] == 1.0
    assert list(d["Subject"].cat.categories[:3]) == ["308", "309", "310"]
    assert d["Subject"].iloc[0] == "308"


def test_other_datasets_as_is():
    b = datasets.load("batMass")
    assert list(b.columns) == ["mass", "species", "forest", "sites"]   # row-name column dropped
    assert len(b) == 150
    assert not isinstance(b["species"].dtype, pd.CategoricalDtype)
    lj = datasets.load("lamprey_lab_DNA")
    assert lj["Copies"].isna().sum() > 0            # "NA" is missing
    assert lj["Copies"].dtype == np.float64
    la = datasets.load("lamprey_adult_lab_DNA")
    assert set(la["stock"].unique()) == {"0L", "2L", "20L", "200L"}
    a = datasets.load("Arabidopsis")
    assert "NL" in set(a["reg"].astype(str))         # "NL" is a level, not a missing value


def test_load_returns_a_fresh_copy():
    d1 = datasets.load("Dyestuff")
    d1.loc[0, "Yield"] = -1.0
    assert datasets.load("Dyestuff").loc[0, "Yield"] == 1545.0


def test_unknown_name():
    with pytest.raises(KeyError, match="sleepstudy"):
        datasets.load("sleepstudi")
