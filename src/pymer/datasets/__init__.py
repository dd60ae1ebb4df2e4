"""Example data sets: lme4's own and those of the lectures pymer started from.

>>> from pymer import datasets
>>> datasets.list_datasets()[:3]
['Arabidopsis', 'Dyestuff', 'Dyestuff2']
>>> sleep = datasets.load("sleepstudy")

The lme4 data sets get lme4's column types back (the CSV files lose them):
factors become pandas Categoricals with lme4's level order (ordered ones are
ordered), so e.g. ``sleepstudy.Subject`` and ``InstEval.dept`` are factors
although their values look like numbers. The other data sets are read as
they are (strings stay strings). Sources: ``data/README.md``.
"""
from __future__ import annotations

import functools
import json
from importlib import resources

import pandas as pd

__all__ = ["load", "list_datasets"]

_TYPES_FILE = "lme4_datasets_types.json"


def _data_dir():
    return resources.files(__name__).joinpath("data")


@functools.lru_cache(maxsize=1)
def _types() -> dict:
    with _data_dir().joinpath(_TYPES_FILE).open("r", encoding="utf-8") as fh:
        return json.load(fh)


def list_datasets() -> list[str]:
    """Names of the data sets :func:`load` knows, sorted."""
    return sorted(p.name[:-4] for p in _data_dir().iterdir() if p.name.endswith(".csv"))


def load(name: str) -> pd.DataFrame:
    """Load a data set as a new DataFrame.

    Parameters
    ----------
    name : str
        One of :func:`list_datasets` (e.g. ``"sleepstudy"``, ``"cbpp"``, ``"Pastes"``).

    Returns
    -------
    pandas.DataFrame
        For lme4's data sets, factors are Categoricals with lme4's level order,
        integers int64 and numerics float64. ``NA`` in the file is a missing value.
    """
    names = list_datasets()
    if name not in names:
        import difflib

        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise KeyError(f"no data set named {name!r}{hint} (available: {', '.join(names)})")
    types = _types().get(name)
    columns = (types or {}).get("columns", {})
    # factor columns are read as strings so that '01' or '15' keep their spelling
    str_cols = {c: str for c, t in columns.items() if t["type"] in ("factor", "ordered")}
    with _data_dir().joinpath(f"{name}.csv").open("r", encoding="utf-8") as fh:
        df = pd.read_csv(fh, dtype=str_cols, keep_default_na=False, na_values=["NA"])
    if types is None:
        unnamed = [c for c in df.columns if str(c) == "" or str(c).startswith("Unnamed: 0")]
        if unnamed and df.columns[0] in unnamed:
            df = df.drop(columns=df.columns[0])     # a row-name column (batMass.csv)
        return df
    for col, t in columns.items():
        if col not in df.columns:
            raise RuntimeError(f"data set {name!r} lacks column {col!r} listed in {_TYPES_FILE}")
        kind = t["type"]
        if kind in ("factor", "ordered"):
            levels = list(t["levels"])
            s = df[col]
            cat = pd.Categorical(s, categories=levels, ordered=(kind == "ordered"))
            unknown = s.notna() & pd.isna(cat)
            if unknown.any():
                raise RuntimeError(f"{name}.{col} has values outside its levels: "
                                   f"{sorted(set(s[unknown]))[:5]}")
            df[col] = cat
        elif kind == "integer":
            df[col] = df[col].astype("int64") if df[col].notna().all() else df[col].astype("Int64")
        elif kind == "numeric":
            df[col] = df[col].astype("float64")
        elif kind == "logical":
            df[col] = df[col].map({"TRUE": True, "FALSE": False, True: True, False: False})
            if df[col].notna().all():
                df[col] = df[col].astype(bool)
    return df
