"""Example data sets: lme4's own and those of the lectures pymer started from.

>>> from pymer import datasets
>>> datasets.list_datasets()[:3]
['Arabidopsis', 'Dyestuff', 'Dyestuff2']
>>> sleep = datasets.load("sleepstudy")

The lme4 data sets get lme4's column types back (the CSV files lose them):
factors become pandas Categoricals with lme4's level order (ordered ones are
ordered), so e.g. ``sleepstudy.Subject`` and ``InstEval.dept`` are factors
although their values look like numbers. ``lamprey_adult_lab_DNA`` is typed the same
way: ``stock`` is a factor with the lecture's level order (0L, 2L, 20L, 200L). The other data sets
are read as they are (strings stay strings). ``load`` records the name in
``df.attrs["name"]``, so a model's summary says ``Data: sleepstudy``.

:func:`describe` tells what a data set holds and where it comes from:

>>> print(datasets.describe("sleepstudy"))          # doctest: +ELLIPSIS
sleepstudy: reaction times in a sleep deprivation study (180 rows)
...

========================  =====================================================
name                      what
========================  =====================================================
Arabidopsis               fruit counts of clipped/unclipped plants (lme4)
Dyestuff, Dyestuff2       yield by batch; Dyestuff2 gives a singular fit (lme4)
InstEval                  lecture ratings, crossed students x lecturers (lme4)
Pastes                    paste strength, casks nested in batches (lme4)
Penicillin                penicillin potency, crossed plate x sample (lme4)
VerbAgg                   verbal aggression item responses (lme4)
cake                      breakage angle of chocolate cakes (lme4)
cbpp                      contagious bovine pleuropneumonia by herd (lme4)
grouseticks               ticks on red grouse chicks (lme4)
sleepstudy                reaction times under sleep deprivation (lme4)
lamprey_adult_lab_DNA     adult sea lamprey eDNA copies by stock (lecture)
lamprey_lab_DNA           juvenile lamprey eDNA detections (lecture)
batMass                   bat mass by species and forest cover (lecture)
robinson_sites            simulated responses at 16 sites (lecture)
robinson_sites_counts     simulated negative-binomial counts (lecture)
========================  =====================================================
"""
from __future__ import annotations

import functools
import json
import textwrap
from importlib import resources

import pandas as pd

__all__ = ["load", "list_datasets", "describe"]

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


def _check_name(name: str):
    names = list_datasets()
    if name not in names:
        import difflib

        close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise KeyError(f"no data set named {name!r}{hint} (available: {', '.join(names)})")


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
        ``df.attrs["name"]`` is `name` (summaries print it as ``Data:``).

    See Also
    --------
    describe : what the columns mean and where the data come from.
    """
    _check_name(name)
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
        df.attrs["name"] = name
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
    df.attrs["name"] = name
    return df


# (title, columns, source): the source column of data/README.md, with more detail
_DOCS = {
    "sleepstudy": (
        "reaction times in a sleep deprivation study",
        {"Reaction": "average reaction time (ms)",
         "Days": "days of sleep deprivation (0 and 1 were adaptation and training; 2 is baseline)",
         "Subject": "factor: subject number (18 subjects)"},
        "lme4 R package (sleepstudy); Belenky G. et al. (2003) Patterns of performance degradation "
        "and restoration during sleep restriction and subsequent recovery: a sleep dose-response "
        "study. Journal of Sleep Research 12, 1-12.",
        'pymer.lmer("Reaction ~ Days + (Days | Subject)", data)'),
    "Dyestuff": (
        "yield of dyestuff by batch of an intermediate product",
        {"Batch": "factor: batch of intermediate product (A-F)",
         "Yield": "yield of dyestuff (grams of standard colour)"},
        "lme4 R package (Dyestuff); Davies O.L. (1947) Statistical Methods in Research and "
        "Production; Box G.E.P. and Tiao G.C. (1973) Bayesian Inference in Statistical Analysis.",
        'pymer.lmer("Yield ~ 1 + (1 | Batch)", data)'),
    "Dyestuff2": (
        "simulated yields by batch, whose batch variance is estimated as zero",
        {"Batch": "factor: batch (A-F)", "Yield": "simulated response"},
        "lme4 R package (Dyestuff2); Box G.E.P. and Tiao G.C. (1973) Bayesian Inference in "
        "Statistical Analysis. A singular fit.",
        'pymer.lmer("Yield ~ 1 + (1 | Batch)", data)'),
    "Penicillin": (
        "potency of penicillin samples, assessed on plates (crossed random effects)",
        {"diameter": "diameter (mm) of the zone of inhibited growth",
         "plate": "factor: assay plate (a-x, 24 plates)",
         "sample": "factor: penicillin sample (A-F)"},
        "lme4 R package (Penicillin); Davies O.L. and Goldsmith P.L. (1972) Statistical Methods "
        "in Research and Production, 4th ed.",
        'pymer.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", data)'),
    "Pastes": (
        "strength of a chemical paste, casks nested within delivery batches",
        {"strength": "paste strength",
         "batch": "factor: delivery batch (A-J)",
         "cask": "factor: cask within the batch (a-c)",
         "sample": "factor: batch:cask combination (30 levels)"},
        "lme4 R package (Pastes); Davies O.L. and Goldsmith P.L. (1972) Statistical Methods "
        "in Research and Production, 4th ed.",
        'pymer.lmer("strength ~ 1 + (1 | batch / cask)", data)'),
    "cbpp": (
        "contagious bovine pleuropneumonia: new serological cases by herd and period",
        {"herd": "factor: herd (15 herds)",
         "incidence": "number of new cases in the period",
         "size": "herd size at the start of the period",
         "period": "factor: period (1-4)"},
        "lme4 R package (cbpp); Lesnoff M. et al. (2004) Within-herd spread of contagious bovine "
        "pleuropneumonia in Ethiopian highlands. Preventive Veterinary Medicine 64, 27-40.",
        'pymer.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", data, '
        'family="binomial")'),
    "grouseticks": (
        "number of ticks on the heads of red grouse chicks",
        {"INDEX": "factor: observation (chick)",
         "TICKS": "number of ticks counted",
         "BROOD": "factor: brood (118)",
         "HEIGHT": "height above sea level (m)",
         "YEAR": "factor: year (95-97)",
         "LOCATION": "factor: geographic location (63)",
         "cHEIGHT": "HEIGHT centred"},
        "lme4 R package (grouseticks); Elston D.A. et al. (2001) Analysis of aggregation, a worked "
        "example: numbers of ticks on red grouse chicks. Parasitology 122, 563-569.",
        'pymer.glmer("TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", '
        'data, family="poisson")'),
    "VerbAgg": (
        "verbal aggression questionnaire: item responses of 316 respondents",
        {"Anger": "the respondent's trait anger score",
         "Gender": "factor: F or M",
         "item": "factor: item (24 items: situation x want/do x behaviour)",
         "resp": "ordered factor: no < perhaps < yes",
         "id": "factor: respondent",
         "btype": "factor: behaviour type (curse, scold, shout)",
         "situ": "factor: situation (other, self)",
         "mode": "factor: want or do",
         "r2": "factor: dichotomous response (N, Y)"},
        "lme4 R package (VerbAgg); De Boeck P. and Wilson M. (2004) Explanatory Item Response "
        "Models. Springer.",
        'pymer.glmer("r2 ~ (Anger + Gender + btype + situ)^2 + (1 | id) + (1 | item)", data, '
        'family="binomial")'),
    "InstEval": (
        "university lecture evaluations by students (large, crossed random effects)",
        {"s": "factor: student (2972)",
         "d": "factor: lecturer (1128)",
         "studage": "ordered factor: student's semester",
         "lectage": "ordered factor: how many semesters back the lecture was",
         "service": "factor: lecture held for another department (0/1)",
         "dept": "factor: department (14)",
         "y": "rating, 1 (poor) to 5 (very good)"},
        "lme4 R package (InstEval); ETH Zurich lecture evaluations, anonymized.",
        'pymer.lmer("y ~ service * dept + (1 | s) + (1 | d)", data)'),
    "cake": (
        "breakage angle of chocolate cakes by recipe and baking temperature",
        {"replicate": "factor: replicate (batch of batter, 15)",
         "recipe": "factor: recipe (A-C)",
         "temperature": "ordered factor: baking temperature (175-225 degrees F, 6 levels)",
         "angle": "breakage angle (degrees)",
         "temp": "baking temperature as a number"},
        "lme4 R package (cake); Cook F.E. (1938) Chocolate cake, I. Optimum baking temperature. "
        "Master's thesis, Iowa State College.",
        'pymer.lmer("angle ~ recipe * temperature + (1 | recipe:replicate)", data)'),
    "Arabidopsis": (
        "fruit production of Arabidopsis thaliana under nutrient and clipping treatments",
        {"reg": "factor: region (NL, SP, SW)",
         "popu": "factor: population (9)",
         "gen": "genotype (integer code, 24 genotypes)",
         "rack": "greenhouse rack (1, 2)",
         "nutrient": "nutrient level (1 low, 8 high)",
         "amd": "factor: clipped or unclipped",
         "status": "factor: germination method",
         "total.fruits": "number of fruits"},
        "lme4 R package (Arabidopsis), data of J. Banta; Banta J.A., Stevens M.H.H. and "
        "Pigliucci M. (2010) Oikos 119, 359-369; used in Bolker B.M. et al. (2009) Trends in "
        "Ecology and Evolution 24, 127-135.",
        'pymer.glmer("total.fruits ~ nutrient * amd + rack + status + (1 | popu) + (1 | gen)", '
        'data, family="poisson")'),
    "lamprey_adult_lab_DNA": (
        "environmental DNA of adult sea lamprey: qPCR copies by lamprey stock and tank",
        {"Sample": "stock-tank sample label, e.g. 200L-2A (36 samples, 4 qPCR replicates each)",
         "Fluor": "qPCR fluorophore (FAM)",
         "Copies": "eDNA copies; NA where nothing was detected",
         "Inhibited": "PCR inhibition (NO throughout)",
         "tank": "tank (9 tanks: 1A-3C)",
         "stock": "lamprey stocking level: 0L, 2L, 20L or 200L"},
        "Erickson R. (USGS), OSDC-East 2019 course data (eDNA detection lecture). Used with "
        "Copies_2 = log10(Copies + 1), missing copies counted as 0, and stock a factor with "
        "levels 0L, 2L, 20L, 200L (as load() gives it).",
        'pymer.lmer("log10(Copies + 1) ~ stock + (1 | Sample)", data.fillna({"Copies": 0}))'),
    "lamprey_lab_DNA": (
        "environmental DNA of juvenile lamprey: detection (0/1) by DNA level and fluorophore",
        {"Sample": "tank-level sample label, e.g. tank2_0",
         "Fluor": "qPCR fluorophore (FAM or HEX)",
         "Copies": "eDNA copies; NA where nothing was detected",
         "Inhibited": "PCR inhibition (NO throughout)",
         "tank": "tank (12 tanks)",
         "DNA": "DNA level in the tank (0, 1, 5, 25)",
         "Detect": "1 if eDNA was detected, else 0"},
        "Erickson R. (USGS), OSDC-East 2019 course data (eDNA detection lecture).",
        'pymer.glmer("Detect ~ factor(DNA) + Fluor + (1 | tank)", data, family="binomial")'),
    "batMass": (
        "body mass of bats of three species against forest cover at 15 sites",
        {"mass": "body mass (g)",
         "species": "species (Spp1-Spp3)",
         "forest": "forest cover around the capture (%)",
         "sites": "site name (15 sites)"},
        "Robinson, ecological statistics lectures (random-effects exercise); the CSV's first "
        "column is R's row names and is dropped.",
        'pymer.lmer("mass ~ species * forest - 1 + (1 | sites)", data)'),
    "robinson_sites": (
        "simulated normal responses y against x at 16 sites (the lecture's `dat`)",
        {"y": "response", "x": "covariate", "site": "site (a-p)"},
        "Robinson, ecological statistics lectures (random slopes); regenerated from the "
        "lecture's simulation with set.seed(123).",
        'pymer.lmer("y ~ x + (x | site)", data)'),
    "robinson_sites_counts": (
        "simulated negative-binomial counts y against x at 16 sites (the lecture's `dat2`)",
        {"y": "count", "x": "covariate", "site": "site (a-p)"},
        "Robinson, ecological statistics lectures (count models); regenerated from the "
        "lecture's simulation with set.seed(123).",
        'pymer.glmer_nb("y ~ x + (1 | site)", data)'),
}


def describe(name: str) -> str:
    """What a data set holds and where it comes from.

    Parameters
    ----------
    name : str
        One of :func:`list_datasets`.

    Returns
    -------
    str
        Title and size, one line per column, the source, and a model it is used with
        (the Example lines run as printed, after ``import pymer``).
    """
    _check_name(name)
    title, columns, source, example = _DOCS[name]
    with _data_dir().joinpath(f"{name}.csv").open("r", encoding="utf-8") as fh:
        nrow = sum(1 for _ in fh) - 1
    w = max(len(c) for c in columns)
    lines = [f"{name}: {title} ({nrow} rows)", "", "Columns:"]
    lines += [f"  {c.ljust(w)}  {d}" for c, d in columns.items()]
    lines += ["", "Source:"] + ["  " + s for s in textwrap.wrap(source, 76)]
    lines += ["", "Example:", f'  data = pymer.datasets.load("{name}")', f"  {example}"]
    return "\n".join(lines)
