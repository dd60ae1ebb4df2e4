"""glmmTMB reference fits (tests/reference/tmb.json) and their data (tests/data/tmb_*.csv)."""
import functools
import json
import pathlib

import pandas as pd

import pymer

HERE = pathlib.Path(__file__).parent
REF = json.loads((HERE / "reference" / "tmb.json").read_text())["models"]
_TYPES = json.loads((HERE / "data" / "tmb_types.json").read_text())


def load(name):
    """A data set as R has it: factor columns as Categoricals with R's level order."""
    d = pd.read_csv(HERE / "data" / f"tmb_{name}.csv")
    for col, t in _TYPES[name].items():
        d[col] = pd.Categorical(d[col].astype(str), categories=t["levels"], ordered=t["ordered"])
    return d


@functools.lru_cache(maxsize=None)
def fit(model_id):
    """pymer's fit of one reference model (cached for the session)."""
    r = REF[model_id]
    return pymer.glmmtmb(r["formula"], load(r["data"]), family=pymer.tmb.family(r["family"], r.get("link")),
                         ziformula=r["ziformula"], dispformula=r["dispformula"], REML=r["REML"],
                         weights=r.get("weights"), offset=r.get("offset"))
