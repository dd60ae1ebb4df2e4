"""Formula parsing and model matrices, checked against R 4.2.2 / lme4 1.1-31.

Every expected name, level order and value marked "R:" was obtained by running
R (LC_COLLATE=C) on the same data: model.matrix() for fixed parts and
lme4::lFormula() for random terms.
"""
import copy

import numpy as np
import pandas as pd
import pytest

from pymer import datasets
from pymer.errors import FormulaError, MissingColumnError, PymerDataError
from pymer.formula import (
    ModelFrame,
    contr_poly,
    drop_fixed_term,
    parse_formula,
    r_number_label,
)


def fixed(formula, data, **kw):
    return parse_formula(formula, data, require_random=False, **kw)


@pytest.fixture(scope="module")
def abc():
    """Balanced factors a (3 levels), b (2), c (2) and numerics x, z."""
    rng = np.random.default_rng(1)
    return pd.DataFrame({
        "y": rng.normal(size=12),
        "a": ["L0", "L1", "L2"] * 4,
        "b": ["L0", "L1"] * 6,
        "c": ["u"] * 6 + ["v"] * 6,
        "x": rng.normal(size=12),
        "z": rng.uniform(1, 5, size=12),
    })


# ---------------------------------------------------------------------------
# the lme4 examples
# ---------------------------------------------------------------------------

def test_sleepstudy():
    d = datasets.load("sleepstudy")
    mf = parse_formula("Reaction ~ Days + (Days | Subject)", d)
    assert isinstance(mf, ModelFrame)
    assert mf.fixef_names == ["(Intercept)", "Days"]
    assert mf.term_labels == ["Days"]
    assert list(mf.assign) == [0, 1]
    assert mf.response_name == "Reaction"
    assert mf.y.dtype == np.float64 and mf.y.shape == (180,)
    assert mf.X.shape == (180, 2)
    np.testing.assert_array_equal(mf.X[:, 1], d["Days"].to_numpy())
    (rt,) = mf.random
    assert (rt.lhs, rt.group) == ("Days", "Subject")
    assert rt.colnames == ["(Intercept)", "Days"]
    assert rt.levels[:3] == ["308", "309", "310"] and len(rt.levels) == 18
    assert rt.codes.dtype == np.intp
    np.testing.assert_array_equal(rt.codes, d["Subject"].cat.codes.to_numpy())
    assert mf.offset is None and mf.weights is None
    np.testing.assert_array_equal(mf.rows, np.arange(180))
    assert mf.nobs_dropped == 0


def test_cake_ordered_factor_interaction():
    d = datasets.load("cake")
    mf = parse_formula("angle ~ recipe * temperature + (1 | recipe:replicate)", d)
    # R: colnames(lFormula(...)$X)
    assert mf.fixef_names == [
        "(Intercept)", "recipeB", "recipeC", "temperature.L", "temperature.Q", "temperature.C",
        "temperature^4", "temperature^5", "recipeB:temperature.L", "recipeC:temperature.L",
        "recipeB:temperature.Q", "recipeC:temperature.Q", "recipeB:temperature.C",
        "recipeC:temperature.C", "recipeB:temperature^4", "recipeC:temperature^4",
        "recipeB:temperature^5", "recipeC:temperature^5"]
    assert mf.term_labels == ["recipe", "temperature", "recipe:temperature"]
    assert list(mf.assign) == [0, 1, 1] + [2] * 5 + [3] * 10
    # R: contr.poly(6) rows are the temperature columns of the first 6 rows
    np.testing.assert_allclose(mf.X[:6, 3:8], contr_poly(6), atol=1e-14)
    (rt,) = mf.random
    assert rt.group == "recipe:replicate"
    assert rt.levels[:4] == ["A:1", "A:2", "A:3", "A:4"] and len(rt.levels) == 45


def test_contr_poly_matches_R():
    # R: sprintf("%.17g", contr.poly(4)) and contr.poly(6)
    r4 = np.array([
        [-0.67082039324993692, 0.5, -0.22360679774997891],
        [-0.22360679774997896, -0.5, 0.67082039324993681],
        [0.22360679774997896, -0.5, -0.67082039324993692],
        [0.67082039324993692, 0.5, 0.22360679774997899]])
    r6 = np.array([
        [-0.59761430466719689, 0.54554472558998091, -0.37267799624996506, 0.18898223650461365, -0.062994078834871056],
        [-0.35856858280031806, -0.10910894511799603, 0.52174919474995096, -0.56694670951384107, 0.31497039417435546],
        [-0.11952286093343939, -0.43643578047198472, 0.2981423969999718, 0.37796447300922781, -0.6299407883487117],
        [0.11952286093343931, -0.43643578047198472, -0.29814239699997191, 0.37796447300922664, 0.62994078834871248],
        [0.35856858280031806, -0.10910894511799614, -0.52174919474995085, -0.56694670951384074, -0.31497039417435641],
        [0.59761430466719678, 0.54554472558998091, 0.37267799624996489, 0.18898223650461368, 0.062994078834871264]])
    np.testing.assert_allclose(contr_poly(4), r4, atol=1e-12)
    np.testing.assert_allclose(contr_poly(6), r6, atol=1e-12)
    # R: contr.poly(3)
    np.testing.assert_allclose(contr_poly(3), [[-0.70710678118654757, 0.40824829046386307],
                                               [0.0, -0.81649658092772603],
                                               [0.70710678118654746, 0.40824829046386307]], atol=1e-12)
    for n in range(2, 12):
        P = contr_poly(n)
        np.testing.assert_allclose(P.T @ P, np.eye(n - 1), atol=1e-10)
        np.testing.assert_allclose(P.sum(axis=0), 0, atol=1e-10)


def test_bats_no_intercept_interaction():
    d = datasets.load("batMass")
    assert "species" in d and d.columns[0] == "mass"
    mf = parse_formula("mass ~ species * forest - 1 + (forest | sites)", d)
    # R: lme4 seed model bats_slopes
    assert mf.fixef_names == ["speciesSpp1", "speciesSpp2", "speciesSpp3", "forest",
                              "speciesSpp2:forest", "speciesSpp3:forest"]
    assert list(mf.assign) == [1, 1, 1, 2, 3, 3]
    assert mf.random[0].colnames == ["(Intercept)", "forest"]


def test_lamprey_factor_of_numbers():
    d = datasets.load("lamprey_lab_DNA")
    mf = parse_formula("Detect ~ factor(DNA) + Fluor + (1 | tank)", d)
    # R: numeric levels sorted numerically
    assert mf.fixef_names == ["(Intercept)", "factor(DNA)1", "factor(DNA)5", "factor(DNA)25", "FluorHEX"]


def test_grouseticks_scale_and_new_data():
    d = datasets.load("grouseticks")
    mf = parse_formula("TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", d)
    assert mf.fixef_names == ["(Intercept)", "YEAR96", "YEAR97", "scale(HEIGHT)"]
    h = d["HEIGHT"].to_numpy()
    np.testing.assert_allclose(mf.X[:, 3], (h - h.mean()) / h.std(ddof=1))
    assert [r.group for r in mf.random] == ["BROOD", "INDEX", "LOCATION"]  # formula order
    # new data: the training centre and scale are reused, not recomputed
    sub = d.iloc[[5, 100, 300]]
    nd = mf.new_data(sub)
    np.testing.assert_allclose(nd.X, mf.X[[5, 100, 300]])
    for (Xl, codes), rt in zip(nd.random, mf.random):
        np.testing.assert_array_equal(codes, rt.codes[[5, 100, 300]])
        np.testing.assert_array_equal(Xl, 1.0)


def test_cbpp_cbind_and_offset():
    d = datasets.load("cbpp")
    mf = parse_formula("cbind(incidence, size - incidence) ~ period + (1 | herd) + offset(log(size))", d)
    assert mf.response_name == "cbind(incidence, size - incidence)"
    assert mf.y.shape == (56, 2)
    np.testing.assert_array_equal(mf.y[:, 0], d["incidence"])
    np.testing.assert_array_equal(mf.y[:, 1], d["size"] - d["incidence"])
    assert mf.fixef_names == ["(Intercept)", "period2", "period3", "period4"]
    # R: model.offset(lf$fr)[1:3]
    np.testing.assert_allclose(mf.offset[:3], [2.63905732961526, 2.484906649788, 2.19722457733622])
    # several offsets and the offset= argument add up
    mf2 = parse_formula("incidence ~ period + offset(log(size)) + offset(size) + (1 | herd)", d,
                        offset=np.ones(56))
    np.testing.assert_allclose(mf2.offset, np.log(d["size"]) + d["size"] + 1)
    assert mf2.fixef_names == ["(Intercept)", "period2", "period3", "period4"]
    mf3 = parse_formula("incidence/size ~ period + (1 | herd)", d, weights="size")
    assert mf3.response_name == "incidence/size"
    np.testing.assert_allclose(mf3.y, d["incidence"] / d["size"])
    np.testing.assert_array_equal(mf3.weights, d["size"])


# ---------------------------------------------------------------------------
# R's term algebra and factor coding
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("formula, names, assign", [
    # R: colnames(model.matrix(f, df)), attr(, "assign")
    ("y ~ a:b", ["(Intercept)", "aL0:bL0", "aL1:bL0", "aL2:bL0", "aL0:bL1", "aL1:bL1", "aL2:bL1"],
     [0, 1, 1, 1, 1, 1, 1]),
    ("y ~ a + b:a", ["(Intercept)", "aL1", "aL2", "aL0:bL1", "aL1:bL1", "aL2:bL1"], [0, 1, 1, 2, 2, 2]),
    ("y ~ b:a + a", ["(Intercept)", "aL1", "aL2", "bL1:aL0", "bL1:aL1", "bL1:aL2"], [0, 1, 1, 2, 2, 2]),
    ("y ~ a*x - 1", ["aL0", "aL1", "aL2", "x", "aL1:x", "aL2:x"], [1, 1, 1, 2, 3, 3]),
    ("y ~ (a+b+x)^2", ["(Intercept)", "aL1", "aL2", "bL1", "x", "aL1:bL1", "aL2:bL1", "aL1:x", "aL2:x",
                       "bL1:x"], [0, 1, 1, 2, 3, 4, 4, 5, 5, 6]),
    ("y ~ x + a + b - 1", ["x", "aL0", "aL1", "aL2", "bL1"], [1, 2, 2, 2, 3]),
    ("y ~ x:a + b - 1", ["bL0", "bL1", "x:aL0", "x:aL1", "x:aL2"], [1, 1, 2, 2, 2]),
    ("y ~ 0 + a:b + b", ["bL0", "bL1", "aL1:bL0", "aL2:bL0", "aL1:bL1", "aL2:bL1"], [1, 1, 2, 2, 2, 2]),
    ("y ~ 0 + a:b + a:c", ["aL0:bL0", "aL1:bL0", "aL2:bL0", "aL0:bL1", "aL1:bL1", "aL2:bL1", "aL0:cv",
                           "aL1:cv", "aL2:cv"], [1] * 6 + [2] * 3),
    ("y ~ c:b + a:b", ["(Intercept)", "cu:bL0", "cv:bL0", "cu:bL1", "cv:bL1", "bL0:aL1", "bL1:aL1",
                       "bL0:aL2", "bL1:aL2"], [0, 1, 1, 1, 1, 2, 2, 2, 2]),
    ("y ~ a/b", ["(Intercept)", "aL1", "aL2", "aL0:bL1", "aL1:bL1", "aL2:bL1"], [0, 1, 1, 2, 2, 2]),
    ("y ~ (a + b)/x", ["(Intercept)", "aL1", "aL2", "bL1", "aL0:bL0:x", "aL1:bL0:x", "aL2:bL0:x",
                       "aL0:bL1:x", "aL1:bL1:x", "aL2:bL1:x"], [0, 1, 1, 2, 3, 3, 3, 3, 3, 3]),
    ("y ~ a %in% b", ["(Intercept)", "aL0:bL0", "aL1:bL0", "aL2:bL0", "aL0:bL1", "aL1:bL1", "aL2:bL1"],
     [0, 1, 1, 1, 1, 1, 1]),
    ("y ~ -1 + a + 1", ["(Intercept)", "aL1", "aL2"], [0, 1, 1]),
    ("y ~ a + b - a", ["(Intercept)", "bL1"], [0, 1]),
    ("y ~ x*a - x", ["(Intercept)", "aL1", "aL2", "x:aL0", "x:aL1", "x:aL2"], [0, 1, 1, 2, 2, 2]),
    ("y ~ x:z + z:x + x", ["(Intercept)", "x", "x:z"], [0, 1, 2]),
    ("y ~ 1", ["(Intercept)"], [0]),
    ("y ~ 0 + x", ["x"], [1]),
])
def test_interaction_coding_matches_R(abc, formula, names, assign):
    mf = fixed(formula, abc)
    assert mf.fixef_names == names
    assert list(mf.assign) == assign
    assert mf.X.shape == (12, len(names))


def test_interaction_columns_values(abc):
    mf = fixed("y ~ c:b + a:b", abc)
    a, b, c = abc["a"].to_numpy(), abc["b"].to_numpy(), abc["c"].to_numpy()
    j = mf.fixef_names.index("cv:bL1")
    np.testing.assert_array_equal(mf.X[:, j], (c == "v") & (b == "L1"))
    j = mf.fixef_names.index("bL0:aL2")
    np.testing.assert_array_equal(mf.X[:, j], (b == "L0") & (a == "L2"))


def test_term_labels_order():
    d = pd.DataFrame({k: np.arange(5.0) for k in ["y", "a", "b", "c", "d"]})
    # R: attr(terms(~ (a+b+c+d)^3), "term.labels")
    assert fixed("y ~ (a+b+c+d)^3", d).term_labels == [
        "a", "b", "c", "d", "a:b", "a:c", "a:d", "b:c", "b:d", "c:d", "a:b:c", "a:b:d", "a:c:d", "b:c:d"]
    assert fixed("y ~ (a+b)*(c+d) - b:c + a/d", d).term_labels == [
        "a", "b", "c", "d", "a:c", "a:d", "b:d"]
    assert fixed("y ~ a:(b+c)*d", d).term_labels == ["d", "a:b", "a:c", "a:b:d", "a:c:d"]
    assert fixed("y ~ (a+b)/(c+d)", d).term_labels == ["a", "b", "a:b:c", "a:b:d"]
    assert fixed("y ~ a*b*c - a:b:c + a:b:c:d", d).term_labels == [
        "a", "b", "c", "a:b", "a:c", "b:c", "a:b:c:d"]


def test_expression_names_match_R():
    rng = np.random.default_rng(3)
    d = pd.DataFrame({"y": rng.normal(size=20), "x": rng.normal(size=20), "z": rng.uniform(1, 5, 20),
                      "my col": rng.normal(size=20), "total.fruits": rng.poisson(5, 20),
                      "l": [True, False] * 10})
    mf = fixed("y ~ log(z) + log10(z + 1) + sqrt(z) + exp(x/2) + I(x^2) + I(x > 0) + I(x * 2) + scale(z)"
               " + `my col` + total.fruits + I(z %% 2) + I(z %/% 2) + log(z, base = 2)"
               " + scale(z, center = FALSE) + l + I(1e5 * x) + I(x == 1.0) + I(l & x > 0)", d)
    # R: colnames(model.matrix(...))
    assert mf.fixef_names == [
        "(Intercept)", "log(z)", "log10(z + 1)", "sqrt(z)", "exp(x/2)", "I(x^2)", "I(x > 0)TRUE",
        "I(x * 2)", "scale(z)", "`my col`", "total.fruits", "I(z%%2)", "I(z%/%2)", "log(z, base = 2)",
        "scale(z, center = FALSE)", "lTRUE", "I(1e+05 * x)", "I(x == 1)TRUE", "I(l & x > 0)TRUE"]
    x, z = d["x"].to_numpy(), d["z"].to_numpy()
    col = dict(zip(mf.fixef_names, mf.X.T))
    np.testing.assert_allclose(col["I(x^2)"], x ** 2)              # ^ is a power inside I()
    np.testing.assert_allclose(col["log10(z + 1)"], np.log10(z + 1))
    np.testing.assert_allclose(col["log(z, base = 2)"], np.log2(z))
    np.testing.assert_allclose(col["I(z%%2)"], np.mod(z, 2))
    np.testing.assert_allclose(col["scale(z, center = FALSE)"], z / np.sqrt((z ** 2).sum() / 19))
    np.testing.assert_array_equal(col["lTRUE"], d["l"].astype(float))
    assert fixed("y ~ x^2", d).fixef_names == ["(Intercept)", "x"]   # ^ is crossing outside I()


def test_r_number_labels():
    # R: as.character(c(...)) / levels(factor(...))
    cases = {0.1 + 0.2: "0.3", 1 / 3: "0.333333333333333", 1e-20: "1e-20", 1e5: "1e+05",
             123456.0: "123456", 1234567.1: "1234567.1", 1e15: "1e+15", 2e15: "2e+15", 100.0: "100",
             0.5: "0.5", 10.0: "10", -2.0: "-2", 0.0001: "1e-04", 0.001: "0.001", 123456789012.0: "123456789012"}
    for v, s in cases.items():
        assert r_number_label(v) == s, v
    d = pd.DataFrame({"y": np.arange(10.0), "n": [0.5, 1, 2, 10, 1e5] * 2})
    assert fixed("y ~ factor(n)", d).fixef_names == [
        "(Intercept)", "factor(n)1", "factor(n)2", "factor(n)10", "factor(n)1e+05"]


def test_c_locale_level_order():
    d = pd.DataFrame({"y": np.arange(6.0), "g": ["b", "a", "B", "A", "_", "1"], "x": np.arange(6.0)})
    # R (LC_COLLATE=C): levels(factor(g))
    expected = ["1", "A", "B", "_", "a", "b"]
    mf = parse_formula("y ~ g + (1 | g)", d)
    assert mf.random[0].levels == expected
    assert mf.fixef_names == ["(Intercept)"] + ["g" + s for s in expected[1:]]
    np.testing.assert_array_equal(mf.random[0].codes, [5, 4, 2, 1, 3, 0])


def test_categorical_keeps_order_and_drops_unused_levels():
    rng = np.random.default_rng(1)
    f = pd.Categorical(["a", "b", "c"] * 8, categories=["z", "c", "a", "b"])
    d = pd.DataFrame({"y": rng.normal(size=24), "f": f, "g": np.repeat(["A", "B", "C", "D"], 6)})
    mf = parse_formula("y ~ f + (1 | g)", d)
    # lme4 drops the unused level 'z' (drop.unused.levels); 'c' stays the reference
    assert mf.fixef_names == ["(Intercept)", "fa", "fb"]
    g = pd.Categorical(np.repeat(["A", "B", "C", "D"], 6), categories=["D", "X", "C", "B", "A"])
    mf2 = parse_formula("y ~ 1 + (1 | g)", d.assign(g=g))
    assert mf2.random[0].levels == ["D", "C", "B", "A"]


def test_bool_and_numeric_grouping():
    d = pd.DataFrame({"y": np.arange(8.0), "l": [True, False] * 4, "h": [3, 1, 2, 10] * 2})
    mf = parse_formula("y ~ l + (1 | l) + (1 | h)", d)
    assert mf.fixef_names == ["(Intercept)", "lTRUE"]
    assert mf.random[0].levels == ["FALSE", "TRUE"]
    assert mf.random[1].levels == ["1", "2", "3", "10"]
    np.testing.assert_array_equal(mf.random[1].codes, [2, 0, 1, 3] * 2)


# ---------------------------------------------------------------------------
# random-effects terms: ||, /, :
# ---------------------------------------------------------------------------

def test_double_bar_expansion(abc):
    # R: lFormula(y ~ (x*a || g))$reTrms$cnms -- lme4 1.1-31 splits by term, not by column
    d = abc.assign(g=["g1", "g2", "g10", "G3"] * 3)
    mf = parse_formula("y ~ (x*a || g)", d)
    assert [r.lhs for r in mf.random] == ["1", "0 + x", "0 + a", "0 + x:a"]
    assert [r.colnames for r in mf.random] == [
        ["(Intercept)"], ["x"], ["aL0", "aL1", "aL2"], ["x:aL0", "x:aL1", "x:aL2"]]
    assert all(r.group == "g" for r in mf.random)
    assert mf.random[0].levels == ["G3", "g1", "g10", "g2"]
    mf = parse_formula("y ~ (0 + x + z || g)", d)
    assert [r.lhs for r in mf.random] == ["0 + x", "0 + z"]


def test_nested_groups_pastes():
    d = datasets.load("Pastes")
    mf = parse_formula("strength ~ 1 + (1 | batch/cask)", d)
    # R: names(ranef(fit)) and rownames(ranef(fit)[["cask:batch"]])
    assert [r.group for r in mf.random] == ["cask:batch", "batch"]
    rt = mf.random[0]
    assert rt.levels[:12] == ["a:A", "a:B", "a:C", "a:D", "a:E", "a:F", "a:G", "a:H", "a:I", "a:J",
                              "b:A", "b:B"]
    assert len(rt.levels) == 30
    labels = np.array(rt.levels)[rt.codes]
    np.testing.assert_array_equal(labels, d["cask"].astype(str) + ":" + d["batch"].astype(str))
    # an unused combination is dropped (R: remove the rows of batch A, cask b)
    sub = d[~((d["batch"] == "A") & (d["cask"] == "b"))]
    mf = parse_formula("strength ~ 1 + (1 | batch/cask)", sub)
    assert mf.random[0].levels[9:12] == ["a:J", "b:B", "b:C"]
    assert len(mf.random[0].levels) == 29
    # a:b written directly
    mf = parse_formula("strength ~ 1 + (1 | batch:cask)", d)
    assert mf.random[0].group == "batch:cask"
    assert mf.random[0].levels[:4] == ["A:a", "A:b", "A:c", "B:a"]


def test_three_level_nesting():
    d = datasets.load("Pastes")
    mf = parse_formula("strength ~ (1 | batch/cask/sample)", d)
    # R: names(ranef(...)) and head(rownames(ranef(...)[["sample:(cask:batch)"]]))
    assert [r.group for r in mf.random] == ["sample:(cask:batch)", "cask:batch", "batch"]
    assert mf.random[0].levels[:6] == ["A:a:a:A", "A:b:b:A", "A:c:c:A", "B:a:a:B", "B:b:b:B", "B:c:c:B"]
    mf = parse_formula("strength ~ (cask || batch/sample)", d)
    assert [(r.lhs, r.group) for r in mf.random] == [
        ("1", "sample:batch"), ("1", "batch"), ("0 + cask", "sample:batch"), ("0 + cask", "batch")]


def test_random_lhs_matrices():
    rng = np.random.default_rng(2)
    d = pd.DataFrame({"y": rng.normal(size=40), "x": rng.normal(size=40), "g": np.repeat(list("abcde"), 8),
                      "f": ["p", "q", "r", "s"] * 10,
                      "o": pd.Categorical(["lo", "mid", "hi", "top"] * 10,
                                          categories=["lo", "mid", "hi", "top"], ordered=True)})
    mf = parse_formula("y ~ x + (log(abs(x)) + I(x^2) | g) + (0 + f | g) + (o | g) + (factor(f) | g)", d)
    # R: lFormula(...)$reTrms$cnms
    assert [r.colnames for r in mf.random] == [
        ["(Intercept)", "log(abs(x))", "I(x^2)"], ["fp", "fq", "fr", "fs"],
        ["(Intercept)", "o.L", "o.Q", "o.C"], ["(Intercept)", "factor(f)q", "factor(f)r", "factor(f)s"]]
    assert [r.lhs for r in mf.random] == ["log(abs(x)) + I(x^2)", "0 + f", "o", "factor(f)"]
    np.testing.assert_allclose(mf.random[0].X[:, 2], d["x"] ** 2)
    np.testing.assert_allclose(mf.random[2].X[:4, 1:], contr_poly(4), atol=1e-14)


def test_group_name_backquoted():
    d = pd.DataFrame({"y": np.arange(8.0), "my g": list("abab") * 2})
    mf = parse_formula("y ~ 1 + (1 | `my g`)", d)
    assert mf.random[0].group == "my g"   # R: names(ranef(fit)) has no backquotes


# ---------------------------------------------------------------------------
# missing values, response kinds, weights
# ---------------------------------------------------------------------------

def test_missing_rows_dropped_and_data_unchanged():
    d = pd.DataFrame({
        "y": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0, 7.0, 8.0],
        "x": [1.0, None, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        "f": pd.array(["a", "b", "c", "a", pd.NA, "b", "a", "b"], dtype="string"),
        "g": ["u", "v", "u", "v", "u", "v", "w", None],
        "w": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        "unused": [np.nan] * 8,
    })
    before = copy.deepcopy(d)
    mf = parse_formula("y ~ x + f + (1 | g)", d, weights="w")
    np.testing.assert_array_equal(mf.rows, [0, 3, 5, 6])
    assert mf.nobs_dropped == 4
    np.testing.assert_array_equal(mf.y, [1, 4, 6, 7])
    # 'c' only occurs in a dropped row: the level is dropped (R: model.frame drops it after na.omit)
    assert mf.fixef_names == ["(Intercept)", "x", "fb"]
    assert mf.random[0].levels == ["u", "v", "w"]
    pd.testing.assert_frame_equal(d, before)
    with pytest.raises(PymerDataError, match="'unused'"):
        parse_formula("y ~ unused + (1 | g)", d)


def test_nan_produced_rows_are_missing():
    d = pd.DataFrame({"y": [1.0, 2, 3, 4], "x": [1.0, -1, 2, 3], "g": list("abab")})
    with pytest.warns(RuntimeWarning, match="NaNs produced"):
        mf = parse_formula("y ~ log(x) + (1 | g)", d)
    np.testing.assert_array_equal(mf.rows, [0, 2, 3])


def test_factor_response():
    d = pd.DataFrame({"r": ["yes", "no", "yes", "no"], "x": [1.0, 2, 3, 4], "g": list("abab")})
    mf = parse_formula("r ~ x + (1 | g)", d)
    assert mf.response_levels == ["no", "yes"]
    np.testing.assert_array_equal(mf.y, [1, 0, 1, 0])
    mf = parse_formula("(r == 'yes') ~ x + (1 | g)", d)
    assert mf.response_levels is None
    np.testing.assert_array_equal(mf.y, [1, 0, 1, 0])
    mf = parse_formula("b ~ x + (1 | g)", d.assign(b=[True, False, False, True]))
    np.testing.assert_array_equal(mf.y, [1, 0, 0, 1])


def test_weights_and_offset_arguments():
    d = pd.DataFrame({"y": [1.0, 2, 3, 4], "x": [1.0, 2, 3, 4], "g": list("abab"), "w": [1.0, 2, 3, 4]})
    mf = parse_formula("y ~ x + (1 | g)", d, weights=[1, 2, 3, 4], offset="x")
    np.testing.assert_array_equal(mf.weights, [1, 2, 3, 4])
    np.testing.assert_array_equal(mf.offset, [1, 2, 3, 4])
    with pytest.raises(PymerDataError, match="negative weights"):
        parse_formula("y ~ x + (1 | g)", d, weights=[1, -2, 3, 4])
    with pytest.raises(PymerDataError, match="length"):
        parse_formula("y ~ x + (1 | g)", d, weights=[1, 2, 3])
    with pytest.raises(MissingColumnError, match="'ww'.*'w'"):
        parse_formula("y ~ x + (1 | g)", d, weights="ww")


def test_dict_data_and_infinite_values():
    data = {"y": np.array([1.0, 2, 3, 4]), "x": np.array([1.0, 2, np.inf, 4]), "g": ["a", "b", "a", "b"]}
    with pytest.raises(PymerDataError, match="'x' has infinite"):
        parse_formula("y ~ x + (1 | g)", data)
    data["x"] = np.array([0.0, 2, 3, 4])
    with pytest.raises(PymerDataError, match=r"'log\(x\)' has infinite"):
        parse_formula("y ~ log(x) + (1 | g)", data)
    mf = parse_formula("y ~ x + (1 | g)", data)
    assert mf.X.shape == (4, 2)


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("formula, match", [
    ("Reaction ~ Days + (Days | Subject", r"unclosed parenthesis.*\(Days \| Subject"),
    ("Reaction ~ Days + ( | Subject)", r"empty left side of '\|'.*\( \| Subject\)"),
    ("Reaction ~ Days + (Days || )", r"empty right side of '\|\|'"),
    ("~ Days + (1 | Subject)", "no response"),
    ("Reaction ~ Days", "no random effects terms specified in formula"),
    ("Reaction ~ Days)", r"unmatched '\)'"),
    ("Reaction ~ Days^x + (1 | Subject)", "power"),
    ("Reaction ~ foo(Days) + (1 | Subject)", r"unknown function foo\(\)"),
    ("Reaction ~ Days + (0 | Subject)", "no columns"),
    ("Reaction ~ Days + (1 | factor(Subject))", "grouping factor"),
    ("Reaction ~ Days ~ Subject", "more than one '~'"),
    ("Reaction ~ Days + (1 | Subject) +", "missing term"),
])
def test_formula_errors(formula, match):
    d = datasets.load("sleepstudy")
    with pytest.raises(FormulaError, match=match):
        parse_formula(formula, d)


def test_missing_column_error():
    d = datasets.load("sleepstudy")
    with pytest.raises(MissingColumnError) as ei:
        parse_formula("Reaction ~ Dayz + (1 | Subject)", d)
    e = ei.value
    assert isinstance(e, KeyError) and isinstance(e, PymerDataError) and isinstance(e, ValueError)
    assert e.column == "Dayz" and e.suggestions == ["Days"]
    assert str(e) == "variable 'Dayz' not found in the data; did you mean 'Days'?"
    with pytest.raises(MissingColumnError, match="'Subject'"):
        parse_formula("Reaction ~ Days + (1 | subject)", d)


def test_require_random_optional():
    d = datasets.load("sleepstudy")
    mf = parse_formula("Reaction ~ Days", d, require_random=False)
    assert mf.random == []


# ---------------------------------------------------------------------------
# new data
# ---------------------------------------------------------------------------

def test_new_data_levels_and_errors():
    d = datasets.load("sleepstudy").assign(f=lambda x: np.where(x["Days"] > 4, "late", "early"))
    mf = parse_formula("Reaction ~ Days * f + (Days | Subject)", d)
    nd = mf.new_data(d)
    np.testing.assert_array_equal(nd.X, mf.X)
    np.testing.assert_array_equal(nd.random[0].codes, mf.random[0].codes)
    np.testing.assert_array_equal(nd.random[0].X, mf.random[0].X)
    assert nd.offset is None
    new = pd.DataFrame({"Days": [1.0, 7.0], "f": ["early", "late"], "Subject": ["308", "999"]})
    with pytest.raises(PymerDataError, match=r"'999'.*Subject"):
        mf.new_data(new)
    nd = mf.new_data(new, allow_new_levels=True)
    np.testing.assert_array_equal(nd.random[0].codes, [0, -1])
    assert nd.new_levels == {"Subject": ["999"]}
    Xl, codes = nd.random[0]
    np.testing.assert_array_equal(Xl, [[1, 1], [1, 7]])
    # only the fixed part, no grouping column needed; a single level of f is fine
    nd = mf.new_data(new.drop(columns="Subject").iloc[[1]], include_random=False)
    assert nd.random == []
    np.testing.assert_array_equal(nd.X, [[1, 7, 1, 7]])
    with pytest.raises(PymerDataError, match="'f' has new level"):
        mf.new_data(new.assign(f=["early", "middle"]))
    with pytest.raises(MissingColumnError, match="'Days'"):
        mf.new_data(new.drop(columns="Days"))
    with pytest.raises(PymerDataError, match="missing values"):
        mf.new_data(new.assign(Days=[1.0, np.nan]))


def test_new_data_nested_and_factor_of_numbers():
    d = datasets.load("Pastes")
    mf = parse_formula("strength ~ 1 + (1 | batch/cask)", d)
    new = pd.DataFrame({"batch": ["A", "B", "K"], "cask": ["b", "c", "a"]})
    nd = mf.new_data(new, allow_new_levels=True)
    lv0, lv1 = mf.random[0].levels, mf.random[1].levels
    np.testing.assert_array_equal(nd.random[0].codes, [lv0.index("b:A"), lv0.index("c:B"), -1])
    np.testing.assert_array_equal(nd.random[1].codes, [0, 1, -1])
    assert nd.new_levels == {"cask:batch": ["a:K"], "batch": ["K"]}
    d = datasets.load("lamprey_lab_DNA")
    mf = parse_formula("Detect ~ factor(DNA) + Fluor + (1 | tank)", d)
    nd = mf.new_data(pd.DataFrame({"DNA": [25, 0], "Fluor": ["HEX", "FAM"], "tank": ["tank1", "tank2"]}))
    np.testing.assert_array_equal(nd.X, [[1, 0, 0, 1, 1], [1, 0, 0, 0, 0]])


# ---------------------------------------------------------------------------
# formula editing
# ---------------------------------------------------------------------------

def test_drop_fixed_term():
    assert drop_fixed_term("y ~ a*b + x + offset(o) + (1|g) + (x||h)", "b:a") == \
        "y ~ a + b + x + offset(o) + (1 | g) + (x || h)"
    assert drop_fixed_term("y ~ x + (1|g)", "x") == "y ~ (1 | g)"
    assert drop_fixed_term("y ~ x + (1|g)", "(Intercept)") == "y ~ 0 + x + (1 | g)"
    assert drop_fixed_term("log(y) ~ 0 + x + I(x^2) + (1|g)", "I(x^2)") == "log(y) ~ 0 + x + (1 | g)"
    with pytest.raises(FormulaError, match="not in the fixed part"):
        drop_fixed_term("y ~ x + (1|g)", "z")


# ---------------------------------------------------------------------------
# the package's layout
# ---------------------------------------------------------------------------

def _package_imports():
    """{module: modules of pymer.formula it imports} (every import, also inside functions)."""
    import ast
    from pathlib import Path

    import pymer.formula

    root = Path(pymer.formula.__file__).parent
    graph = {}
    for path in sorted(root.glob("*.py")):
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                deps.add(node.module.split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.level == 1:
                deps.update(a.name for a in node.names)
        graph[path.stem] = deps
    return root, graph


def test_formula_modules_are_small_and_import_one_way():
    root, graph = _package_imports()
    assert {"syntax", "algebra", "evaluate", "design", "bars", "frame", "edit"} <= set(graph)
    for path in root.glob("*.py"):
        n = len(path.read_text().splitlines())
        assert n <= 800, f"{path.name} has {n} lines"
    # no cycles: a depth-first walk never meets a module on its own path
    def walk(m, path):
        assert m not in path, f"import cycle {' -> '.join(path + [m])}"
        for d in graph.get(m, ()):
            walk(d, path + [m])
    for m in graph:
        walk(m, [])
    assert graph["syntax"] == set()
    assert graph["edit"] <= {"syntax", "algebra"}          # editing needs no data
    assert graph["algebra"] <= {"syntax"}
