"""glmmTMB reference fits (tests/reference/tmb.json) and their data (tests/data/tmb_*.csv)."""
import functools
import json
import pathlib
import re

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


NUM = re.compile(r"^[-<]?\d[\d.e+-]*$")


def summary_body(lines):
    """A printed summary from the fit statistics (the AIC line) on, R's curly quotes made plain."""
    i = next(j for j, ln in enumerate(lines) if ln.strip().startswith("AIC"))
    return [ln.replace("\u2018", "'").replace("\u2019", "'") for ln in lines[i:]]


def same_word(a, b):
    """Two printed words: equal, or numbers within one unit of the last printed digit."""
    if a == b:
        return True
    if NUM.match(a) and NUM.match(b) and not a.startswith("<"):
        x, y = float(a), float(b)
        dec = len(b.split(".")[1]) if "." in b and "e" not in b else 0
        return abs(x - y) <= max(1.01 * 10.0 ** -dec, 2e-3 * abs(y))
    return False


def assert_prints_as(mine, theirs, layout=False):
    """Two summaries' lines from the fit statistics on: word by word equal, numbers to the
    digits printed; with `layout`, the columns line up too (line lengths within one)."""
    a, b = summary_body(mine), summary_body(theirs)
    assert len(a) == len(b), "\n".join(a)
    for x, y in zip(a, b):
        tx, ty = x.split(), y.split()
        assert len(tx) == len(ty), (x, y)
        assert all(same_word(p, q) for p, q in zip(tx, ty)), (x, y)
        if layout:
            assert abs(len(x.rstrip()) - len(y.rstrip())) <= 1, (x, y)
