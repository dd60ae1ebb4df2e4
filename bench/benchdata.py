"""Data for the benchmark suite: lme4's data sets and the synthetic crossed designs.

Every data set is a CSV file plus lme4's column types (the format of
``src/pymer/datasets/data/lme4_datasets_types.json``), so that pymer, lme4 and
statsmodels read identical numbers with identical factor levels. The synthetic
designs are generated deterministically (numpy, fixed seed) and written to
``bench/out/`` (gitignored).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
DATA_DIR = BENCH_DIR.parent / "src" / "pymer" / "datasets" / "data"
TYPES_FILE = DATA_DIR / "lme4_datasets_types.json"

SYNTH_SEED = 20240501
SYNTH_FORMULA = "y ~ x + (x | g1) + (1 | g2)"


def lme4_types(name: str) -> dict:
    """lme4's column types of one of pymer's bundled data sets."""
    with open(TYPES_FILE, encoding="utf-8") as fh:
        return json.load(fh)[name]


def synth_levels(n: int) -> tuple[int, int]:
    """Levels of the two crossed factors: g1 (with a random slope) n/100, g2 sqrt(n)."""
    return max(2, int(round(n / 100))), max(2, int(round(np.sqrt(n))))


def synth_paths(n: int) -> tuple[Path, Path]:
    return OUT_DIR / f"synth_{n}.csv", OUT_DIR / f"synth_{n}.types.json"


def make_synth(n: int) -> tuple[Path, Path]:
    """Write the synthetic design with n rows (once; it is deterministic) and its types.

    y = 2 + 0.5 x + b0[g1] + b1[g1] x + c[g2] + e, with (b0, b1) bivariate normal
    (sd 1 and 0.3, correlation 0.3), c ~ N(0, 0.7^2), e ~ N(0, 1); g1 and g2 crossed,
    every level present.
    """
    csv, types = synth_paths(n)
    if csv.exists() and types.exists():
        return csv, types
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    L1, L2 = synth_levels(n)
    rng = np.random.default_rng([SYNTH_SEED, n])
    g1 = rng.integers(0, L1, size=n)
    g2 = rng.integers(0, L2, size=n)
    g1[:L1] = np.arange(L1)                 # every level appears
    g2[:L2] = np.arange(L2)
    x = rng.normal(size=n)
    cov = np.array([[1.0, 0.3 * 1.0 * 0.3], [0.3 * 1.0 * 0.3, 0.09]])
    b = rng.multivariate_normal([0.0, 0.0], cov, size=L1)
    c = rng.normal(scale=0.7, size=L2)
    y = 2.0 + 0.5 * x + b[g1, 0] + b[g1, 1] * x + c[g2] + rng.normal(size=n)
    w1, w2 = len(str(L1)), len(str(L2))
    lev1 = [f"a{i:0{w1}d}" for i in range(L1)]   # zero-padded: the same order in every locale
    lev2 = [f"b{i:0{w2}d}" for i in range(L2)]
    df = pd.DataFrame({"y": y, "x": x,
                       "g1": np.asarray(lev1, dtype=object)[g1],
                       "g2": np.asarray(lev2, dtype=object)[g2]})
    tmp = csv.with_suffix(".tmp")
    df.to_csv(tmp, index=False, float_format=None)   # repr floats: exact round trip
    os.replace(tmp, csv)
    spec = {"rows": n, "columns": {"y": {"type": "numeric"}, "x": {"type": "numeric"},
                                   "g1": {"type": "factor", "levels": lev1},
                                   "g2": {"type": "factor", "levels": lev2}}}
    types.write_text(json.dumps(spec))
    return csv, types


def load_typed(csv: str | Path, types: dict) -> pd.DataFrame:
    """Read a CSV and give its columns lme4's types (as pymer.datasets.load does)."""
    columns = types.get("columns", {})
    str_cols = {c: str for c, t in columns.items() if t["type"] in ("factor", "ordered")}
    df = pd.read_csv(csv, dtype=str_cols, keep_default_na=False, na_values=["NA"])
    for col, t in columns.items():
        kind = t["type"]
        if kind in ("factor", "ordered"):
            df[col] = pd.Categorical(df[col], categories=list(t["levels"]), ordered=(kind == "ordered"))
        elif kind == "integer":
            df[col] = df[col].astype("int64")
        elif kind == "numeric":
            df[col] = df[col].astype("float64")
        elif kind == "logical":
            df[col] = df[col].map({"TRUE": True, "FALSE": False}).astype(bool)
    return df
