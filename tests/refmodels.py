"""Rebuild the data and the pymer call of each lme4 reference model (tests/reference/*.json)."""
import re
from pathlib import Path

import numpy as np
import pandas as pd

import pymer

DATA = Path(__file__).parent / "data"
STOCK_LEVELS = ["0L", "2L", "20L", "200L"]


def _lamprey_adult(d):
    d = d.copy()
    d["Copies_2"] = np.log10(d["Copies"].fillna(0) + 1)
    d["stock"] = pd.Categorical(d["stock"], categories=STOCK_LEVELS)
    return d


def _lamprey_stock(d):
    d = d.copy()
    d["stock"] = pd.Categorical(d["stock"], categories=STOCK_LEVELS)
    return d


def _with(**cols):
    def prep(d):
        d = d.copy()
        for k, f in cols.items():
            d[k] = f(d)
        return d
    return prep


# the JSON's "prep" strings (what refgen.R's prep functions did), mapped to Python
PREPS = {
    "Copies_2 = log10(Copies+1), NA copies -> 0; stock factor levels 0L,2L,20L,200L": _lamprey_adult,
    "stock factor levels 0L,2L,20L,200L (Copies left as is: rows with NA Copies are dropped by na.omit)": _lamprey_stock,
    "Days2 = 2*Days": _with(Days2=lambda d: 2 * d["Days"]),
    "w = 1 + (Days %% 3)": _with(w=lambda d: 1.0 + (d["Days"] % 3)),
    "drop the rows whose 1-based row number is a multiple of 7 (7, 14, ..., 175): 155 of 180 rows remain":
        lambda d: d[(np.arange(len(d)) + 1) % 7 != 0].reset_index(drop=True),
}


def load_data(entry):
    name = entry["data"]
    if (DATA / f"{name}.csv").exists():
        d = pd.read_csv(DATA / f"{name}.csv")
    else:
        d = pymer.datasets.load(name)
    prep = entry.get("prep")
    if prep is None and name == "lamprey_adult_lab_DNA" and "Copies_2" in entry["call"]:
        prep = next(iter(PREPS))      # the seed JSON has no prep field
    if prep:
        if prep not in PREPS:
            raise KeyError(f"no Python prep for {prep!r}")
        d = PREPS[prep](d)
    return d


_CALL = re.compile(r"^(lmer|glmer|glmer\.nb)\((.*)\)$", re.S)


def parse_call(call):
    """Split an R call 'lmer(f, data = d, REML = FALSE, ...)' into (fun, formula, kwargs)."""
    m = _CALL.match(call.strip())
    if not m:
        raise ValueError(call)
    fun, args = m.group(1), m.group(2)
    parts, depth, cur = [], 0, ""
    for ch in args:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    parts.append(cur.strip())
    kwargs = {}
    for p in parts[1:]:
        k, v = [s.strip() for s in p.split("=", 1)]
        kwargs[k] = v
    return fun, parts[0], kwargs


def fit_lmer(entry):
    fun, formula, kw = parse_call(entry["call"])
    assert fun == "lmer", fun
    d = load_data(entry)
    args = {}
    if "REML" in kw:
        args["REML"] = kw["REML"] == "TRUE"
    for k in ("weights", "offset"):
        if k in kw:
            args[k] = kw[k]
    return pymer.lmer(formula, d, **args)


_FAMILY = re.compile(r"^(\w+(?:\.\w+)?)\s*(?:\(\s*(?:link\s*=\s*)?\"?([^\")]*)\"?\s*\))?$")


def fit_glmer(entry):
    """Refit a glmer / glmer.nb reference entry with pymer."""
    fun, formula, kw = parse_call(entry["call"])
    d = load_data(entry)
    args = {}
    for k in ("weights", "offset"):
        if k in kw:
            args[k] = kw[k]
    if "nAGQ" in kw:
        args["nAGQ"] = int(kw["nAGQ"])
    if fun == "glmer.nb":
        return pymer.glmer_nb(formula, d, **args)
    m = _FAMILY.match(kw.get("family", "binomial").strip())
    name, link = m.group(1), m.group(2) or None
    fam = pymer.families.get_family(name)
    fam = type(fam)(link=link) if link else fam
    return pymer.glmer(formula, d, family=fam, **args)
