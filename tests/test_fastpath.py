"""The small-model fast paths give what the general paths give: the cache of formula
readings (formula/structure.py), columns read from the frame's arrays
(evaluate._fast_column), remembered category labels, interactions coded by counting."""
import warnings

import numpy as np
import pandas as pd
import pytest

import pymer
from pymer.errors import FormulaError
from pymer.formula import evaluate as ev_mod
from pymer.formula import parse_formula
from pymer.formula.bars import _unique_codes
from pymer.formula.evaluate import _column_value, _fast_column
from pymer.formula.structure import clear_formula_cache, formula_structure


@pytest.fixture(scope="module")
def sleep():
    return pymer.datasets.load("sleepstudy")


def _frame_parts(mf):
    return dict(y=mf.y, X=mf.X, names=mf.fixef_names, rows=mf.rows, assign=mf.assign,
                random=[(r.lhs, r.group, r.X, r.colnames, r.codes, r.levels) for r in mf.random],
                offset=mf.offset, weights=mf.weights, labels=mf.term_labels)


def _assert_same_frame(a, b):
    pa, pb = _frame_parts(a), _frame_parts(b)
    for k in ("y", "X", "rows", "assign"):
        np.testing.assert_array_equal(pa[k], pb[k])
        assert pa[k].dtype == pb[k].dtype
    assert pa["names"] == pb["names"] and pa["labels"] == pb["labels"]
    for ra, rb in zip(pa["random"], pb["random"], strict=True):
        assert ra[0] == rb[0] and ra[1] == rb[1] and ra[3] == rb[3] and ra[5] == rb[5]
        np.testing.assert_array_equal(ra[2], rb[2])
        np.testing.assert_array_equal(ra[4], rb[4])
    for k in ("offset", "weights"):
        assert (pa[k] is None) == (pb[k] is None)
        if pa[k] is not None:
            np.testing.assert_array_equal(pa[k], pb[k])


def _slow(monkeypatch, fn):
    """fn() with the column fast path, the label memory and the formula cache all off."""
    with monkeypatch.context() as mp:
        mp.setattr(ev_mod, "_fast_column", lambda data, name: None)
        mp.setattr(ev_mod, "_LABELS", {})
        mp.setattr(ev_mod, "_category_labels", ev_mod._compute_category_labels)
        clear_formula_cache()
        return fn()


# ---- the formula cache ---------------------------------------------------------------


def test_cache_reused_with_other_data(sleep):
    f = "Reaction ~ Days + (Days | Subject)"
    first = parse_formula(f, sleep)
    other = sleep.iloc[::2].copy()
    other["Reaction"] = other["Reaction"] * 2.0
    clear_formula_cache()
    fresh = parse_formula(f, other)
    cached = parse_formula(f, other)          # the reading cached just now
    _assert_same_frame(fresh, cached)
    assert cached.n == 90 and first.n == 180
    np.testing.assert_array_equal(cached.y, other["Reaction"].to_numpy())


def test_cache_dot_formula_follows_the_columns(sleep):
    f = "Reaction ~ . - Subject + (1 | Subject)"
    a = parse_formula(f, sleep)
    assert a.fixef_names == ["(Intercept)", "Days"]
    d2 = sleep.assign(Extra=np.arange(len(sleep), dtype=float))
    b = parse_formula(f, d2)
    assert b.fixef_names == ["(Intercept)", "Days", "Extra"]
    assert parse_formula(f, sleep).fixef_names == ["(Intercept)", "Days"]


def test_cache_changed_column_type(sleep):
    f = "Reaction ~ Days + (1 | Subject)"
    a = parse_formula(f, sleep)
    d2 = sleep.assign(Days=pd.Categorical(sleep["Days"].astype(int)))
    b = parse_formula(f, d2)
    assert a.fixef_names == ["(Intercept)", "Days"]
    assert b.fixef_names == ["(Intercept)"] + [f"Days{k}" for k in range(1, 10)]


def test_cache_mutated_caller_frame(sleep):
    f = "Reaction ~ Days + (Days | Subject)"
    d = sleep.copy()
    before = d.copy()
    m1 = pymer.lmer(f, d)
    pd.testing.assert_frame_equal(d, before)          # the fit leaves the data alone
    m1.model.mf.y[:] = 0.0                            # nor do the frame's arrays alias it
    m1.model.mf.random[0].levels.append("bogus")
    pd.testing.assert_frame_equal(d, before)
    d["Reaction"] = d["Reaction"] + np.linspace(0, 50, len(d))
    d["Subject"] = d["Subject"].cat.rename_categories(lambda s: "S" + s)
    m2 = pymer.lmer(f, d)
    clear_formula_cache()
    m3 = pymer.lmer(f, d.copy())
    assert m2.objective == m3.objective
    np.testing.assert_array_equal(m2.beta, m3.beta)
    np.testing.assert_array_equal(m2.theta, m3.theta)
    assert m2.model.mf.random[0].levels[0] == "S308"
    assert "bogus" not in parse_formula(f, sleep).random[0].levels


def test_cache_shares_no_mutable_state(sleep):
    f = "Reaction ~ Days + (Days | Subject)"
    a, b = parse_formula(f, sleep), parse_formula(f, sleep)
    assert a._spec is not b._spec and a._spec.fixed is not b._spec.fixed
    assert a.fixef_names is not b.fixef_names and a.random[0].levels is not b.random[0].levels
    a.fixef_names.append("x")
    a._spec.offsets.append("x")
    assert parse_formula(f, sleep).fixef_names == ["(Intercept)", "Days"]
    assert parse_formula(f, sleep)._spec.offsets == []


def test_cache_keeps_errors_and_their_order(sleep):
    for _ in range(2):
        with pytest.raises(FormulaError, match="no random effects"):
            parse_formula("Reaction ~ Days", sleep)
        with pytest.raises(FormulaError):
            parse_formula("Reaction ~ Days + (1 | Subject", sleep)
        with pytest.raises(FormulaError, match="must be a string"):
            parse_formula(["Reaction ~ Days"], sleep)
    # require_random is part of the key: the same formula reads without random terms too
    assert parse_formula("Reaction ~ Days", sleep, require_random=False).random == []
    with pytest.raises(FormulaError, match="no random effects"):
        parse_formula("Reaction ~ Days", sleep)


def test_structure_is_cached_and_cleared(sleep):
    clear_formula_cache()
    s1 = formula_structure("Reaction ~ Days + (1 | Subject)", sleep.columns)
    s2 = formula_structure("Reaction ~ Days + (1 | Subject)", sleep.columns)
    assert s1 is s2
    assert s1.fixed_keys == ("Days",) and s1.random[0].group_name == "Subject"
    clear_formula_cache()
    assert formula_structure("Reaction ~ Days + (1 | Subject)", sleep.columns) is not s1


def test_cache_does_not_change_fits(sleep, monkeypatch):
    cases = [("Reaction ~ Days + (Days | Subject)", sleep),
             ("diameter ~ 1 + (1|plate) + (1|sample)", pymer.datasets.load("Penicillin")),
             ("strength ~ 1 + (1|batch/cask)", pymer.datasets.load("Pastes"))]
    for f, d in cases:
        fast = pymer.lmer(f, d)
        fast2 = pymer.lmer(f, d)
        slow = _slow(monkeypatch, lambda: pymer.lmer(f, d))
        for m in (fast, fast2):
            assert m.objective == slow.objective
            np.testing.assert_array_equal(m.beta, slow.beta)
            np.testing.assert_array_equal(m.theta, slow.theta)
            assert str(m.summary()) == str(slow.summary())


# ---- columns read from the frame's arrays --------------------------------------------


def _columns():
    n = 12
    rng = np.random.default_rng(3)
    g = pd.Categorical(list("abcabcabcabc"), categories=["c", "b", "a", "unused"])
    gna = pd.Categorical(["a", None, "b", "a", "b", None, "a", "b", "a", "b", "a", "b"])
    return pd.DataFrame({
        "y": rng.normal(size=n),
        "f64": rng.normal(size=n),
        "fnan": np.where(np.arange(n) % 5 == 0, np.nan, 1.5),
        "f32": rng.normal(size=n).astype(np.float32),
        "i64": np.arange(n, dtype=np.int64) - 3,
        "i8": (np.arange(n) % 4).astype(np.int8),
        "u16": np.arange(n, dtype=np.uint16),
        "flag": np.arange(n) % 3 == 0,
        "g": g,
        "gna": gna,
        "ord": pd.Categorical(list("lmhlmhlmhlmh"), categories=["l", "m", "h"], ordered=True),
        "gnum": pd.Categorical(np.arange(n) % 3 * 2.5),
        "gint": pd.Categorical(np.arange(n) % 4 + 10),
        "gdup": pd.Categorical(np.r_[[0.1 + 0.2, 0.3] * 6]),     # two categories, one R label
        "gbool": pd.Categorical(np.arange(n) % 2 == 0),
        "obj": pd.Series(list("xyzxyzxyzxyz"), dtype=object),
        "objnum": pd.Series([1, 2.5, 3] * 4, dtype=object),
        "nullable": pd.array(list(range(n - 1)) + [None], dtype="Int64"),
        "text": pd.Series(list("pqpqpqpqpqpq"), dtype="string"),
    })


def _same_value(a, b):
    assert a.kind == b.kind and a.ordered == b.ordered and a.levels == b.levels
    assert a.data.dtype == b.data.dtype
    np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("name", ["f64", "fnan", "f32", "i64", "i8", "u16", "flag", "g", "gna",
                                  "ord", "gnum", "gint", "gdup", "gbool"])
def test_fast_column_equals_general_path(name):
    d = _columns()
    before = d.copy()
    fast = _fast_column(d, name)
    assert fast is not None
    _same_value(fast, _column_value(d[name], name))
    fast.data[:] = 0                     # a copy, never a view of the caller's column
    pd.testing.assert_frame_equal(d, before)


@pytest.mark.parametrize("name", ["obj", "objnum", "nullable", "text", "missing"])
def test_fast_column_leaves_other_dtypes_to_the_general_path(name):
    assert _fast_column(_columns(), name) is None


def test_fast_column_duplicated_labels_go_the_general_way():
    d = pd.DataFrame([[1.0, 2.0], [3.0, 4.0]], columns=["a", "a"])
    assert _fast_column(d, "a") is None


def test_category_labels_follow_new_categories():
    s = pd.Series(pd.Categorical(["a", "b", "a"]))
    assert _fast_column(s.to_frame("g"), "g").levels == ["a", "b"]
    s2 = s.cat.rename_categories(["A", "B"])
    assert _fast_column(s2.to_frame("g"), "g").levels == ["A", "B"]
    lv = _fast_column(s.to_frame("g"), "g").levels
    lv.append("z")                       # a new list each time
    assert _fast_column(s.to_frame("g"), "g").levels == ["a", "b"]


@pytest.mark.parametrize("formula", [
    "y ~ f64 + fnan + f32 + i64 + (1 | g)",
    "y ~ i8 + u16 + flag + ord + (f64 | gna)",
    "y ~ g * f64 + gnum + (1 | gint) + (0 + f64 | gbool)",
    "y ~ obj + (1 | gint:g) + (1 | gdup)",
    "y ~ objnum + nullable + text + (1 | g/obj)",
])
def test_model_frames_equal_slow_path(formula, monkeypatch):
    d = _columns()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = parse_formula(formula, d, require_random=False)
        slow = _slow(monkeypatch, lambda: parse_formula(formula, d, require_random=False))
    _assert_same_frame(fast, slow)


def test_model_frame_with_nans_equals_slow_path(sleep, monkeypatch):
    d = sleep.copy()
    d.loc[[0, 7, 90], "Reaction"] = np.nan
    d["Subject"] = d["Subject"].cat.add_categories(["000"])       # an unused level
    d.loc[[5], "Subject"] = np.nan
    f = "Reaction ~ Days + (Days | Subject)"
    fast = parse_formula(f, d)
    slow = _slow(monkeypatch, lambda: parse_formula(f, d))
    _assert_same_frame(fast, slow)
    assert fast.n == 176 and "000" not in fast.random[0].levels


# ---- interactions by counting -------------------------------------------------------


@pytest.mark.parametrize("size,n", [(30, 60), (5, 1000), (10 ** 6, 100), (7, 0), (1, 5)])
def test_unique_codes_equals_numpy(size, n):
    codes = np.random.default_rng(size + n).integers(0, size, n).astype(np.int64)
    u1, i1 = np.unique(codes, return_inverse=True)
    u2, i2 = _unique_codes(codes, size)
    np.testing.assert_array_equal(u1, u2)
    np.testing.assert_array_equal(i1.ravel(), i2)
