"""Formula editing on the syntax tree: update_formula (R's update.formula),
drop_fixed_term (drop1), and the deparser that writes the edited tree back.

R's answers are in tests/reference/formula_edit.json (formula_edit.R).
"""
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import load_reference

import pymer
from pymer.errors import FormulaError
from pymer.formula import (
    _deparse,
    _parse,
    deparse_lines,
    drop_fixed_term,
    parse_formula,
    update_formula,
)

REF = load_reference("formula_edit.json")


@pytest.mark.parametrize("case", REF["update"], ids=lambda c: f"{c['old']} | {c['new']}")
def test_update_formula_as_r(case):
    got = update_formula(case["old"], case["new"])
    assert got == case["result"]
    assert _deparse(_parse(got)) == got          # reads back to itself


@pytest.mark.parametrize("case", REF["deparse"], ids=lambda c: c["formula"][:30])
def test_deparse_lines_as_r(case):
    assert deparse_lines(case["formula"]) == case["lines"]


def test_one_deparser_plain_and_broken():
    long = REF["deparse"][2]["formula"]
    lines = deparse_lines(long)
    assert len(lines) > 1
    # the line-broken text is the one-line text cut at blanks after operators
    assert " ".join(ln.strip() for ln in lines) == _deparse(_parse(long))
    assert deparse_lines(long, cutoff=10_000) == [_deparse(_parse(long))]
    assert _deparse(_parse("y~x+(1|g)")) == deparse_lines("y~x+(1|g)")[0] == "y ~ x + (1 | g)"
    # text that is no formula comes back as it is
    assert deparse_lines("y ~ (x") == ["y ~ (x"]
    assert deparse_lines(3) == ["3"]


def test_update_formula_dots_on_both_sides():
    assert update_formula("log(y) ~ x + (1|g)", ". ~ .") == "log(y) ~ x + (1 | g)"
    assert update_formula("y ~ x + (1|g)", "log(.) ~ . + z") == "log(y) ~ x + (1 | g) + z"
    # an operator expression put in place of '.' is one unit
    assert update_formula("a + b ~ x", "log(.) + 1 ~ .") == "log(a + b) + 1 ~ x"
    assert update_formula("y ~ x + z", ". ~ . - 1") == "y ~ x + z - 1"
    assert update_formula("y ~ x + z", ". ~ .:w") == "y ~ x:w + z:w"
    # as in R, a backquoted `.` is the same symbol
    assert update_formula("y ~ x", ". ~ `.` + z") == "y ~ x + z"


def test_update_formula_without_dots_simplifies_the_new_formula():
    assert update_formula("y ~ x + (1|g)", "z ~ a*b + (1 | h)") == "z ~ a + b + (1 | h) + a:b"
    assert update_formula("y ~ x", "~ w") == "y ~ w"
    assert update_formula("~ x", "~ . + w") == "~x + w"


def test_update_formula_keeps_random_terms_and_function_calls():
    old = "y ~ log(x) + I(x^2) + factor(f) + (1 + x | g) + (x || h) + offset(log(n))"
    assert update_formula(old, ". ~ . - I(x^2)") == \
        "y ~ log(x) + factor(f) + (1 + x | g) + (x || h) + offset(log(n))"
    assert update_formula(old, ". ~ . - (x || h) - log(x)") == \
        "y ~ I(x^2) + factor(f) + (1 + x | g) + offset(log(n))"
    # spacing and redundant parentheses do not matter when removing a random term
    assert update_formula("y ~ x + ((1|g))", ". ~ . - ( 1 | g )") == "y ~ x"


def test_update_formula_interactions():
    assert update_formula("y ~ a*b*c", ". ~ . - b:c:a") == "y ~ a + b + c + a:b + a:c + b:c"
    assert update_formula("y ~ a*b", ". ~ . - a") == "y ~ b + a:b"
    assert update_formula("y ~ (a+b)^2 + (1|g)", ". ~ . - a:b") == "y ~ a + b + (1 | g)"


def test_update_formula_bad_input():
    with pytest.raises(FormulaError, match="has no '~'"):
        update_formula("y ~ x", "x + z")
    with pytest.raises(FormulaError, match="more than one '~'"):
        update_formula("y ~ x", ". ~ . ~ z")
    with pytest.raises(FormulaError, match="must be a string, not int"):
        update_formula("y ~ x", 3)
    with pytest.raises(FormulaError, match="empty formula"):
        update_formula("", ". ~ .")
    with pytest.raises(FormulaError, match="response of '~ x'"):
        update_formula("~ x", "log(.) ~ .")
    with pytest.raises(FormulaError, match=r"random-effects term '\(1 \| g\)'.*interaction"):
        update_formula("y ~ x + (1|g)", ". ~ .:w")
    with pytest.raises(FormulaError, match="unclosed parenthesis"):
        update_formula("y ~ x", ". ~ . + (z")
    with pytest.raises(FormulaError, match="nested too deeply"):
        update_formula("y ~ x", ". ~ " + "(" * 5000 + "z" + ")" * 5000)


def test_drop_fixed_term_edits():
    # an interaction, in either order of its variables
    assert drop_fixed_term("y ~ a*b + (1|g)", "a:b") == "y ~ a + b + (1 | g)"
    assert drop_fixed_term("y ~ a*b*c", "c:a") == "y ~ a + b + c + a:b + b:c + a:b:c"
    # a main effect that an interaction still contains
    assert drop_fixed_term("y ~ a*b", "a") == "y ~ b + a:b"
    # the intercept ("- 1") and intercept-free formulas
    assert drop_fixed_term("y ~ x - 1 + (1|g)", "x") == "y ~ 0 + (1 | g)"
    assert drop_fixed_term("y ~ x", "x") == "y ~ 1"
    # random terms of every kind are kept as written (normalized spacing)
    assert drop_fixed_term("y ~ x + z + (x||g) + (1|h/k) + ((0 + z | g))", "z") == \
        "y ~ x + (x || g) + (1 | h/k) + (0 + z | g)"
    # terms with function calls
    assert drop_fixed_term("y ~ log(x) + scale(z, center = FALSE) + (1|g)", "log(x)") == \
        "y ~ scale(z, center = FALSE) + (1 | g)"
    assert drop_fixed_term("y ~ log(x) + scale(z, center = FALSE)", "scale(z,center=FALSE)") == \
        "y ~ log(x)"


def test_drop_fixed_term_reads_back_as_the_same_terms():
    # a comparison as a variable is parenthesized, so the result reads as the same terms
    d = pd.DataFrame({"y": [1.0, 2, 3, 4, 5, 7], "x": [0.5, 1, 2, 3, 4, 5],
                      "z": [1.0, 0, 1, 0, 1, 1], "w": [3.0, 1, 2, 5, 4, 6]})
    f = drop_fixed_term("y ~ (x > 1) + z + w", "w")
    assert f == "y ~ (x > 1) + z"
    mf = parse_formula(f, d, require_random=False)
    assert mf.fixef_names == ["(Intercept)", "x > 1TRUE", "z"]


def test_drop_fixed_term_bad_input():
    with pytest.raises(FormulaError, match="'z' is not in the fixed part"):
        drop_fixed_term("y ~ x + (1|g)", "z")
    with pytest.raises(FormulaError, match="no intercept to drop"):
        drop_fixed_term("y ~ 0 + x + (1|g)", "(Intercept)")
    with pytest.raises(FormulaError, match="'a \\+ b' is not a single term"):
        drop_fixed_term("y ~ a + b", "a + b")
    with pytest.raises(FormulaError, match="must be a term label .* not int"):
        drop_fixed_term("y ~ a + b", 1)
    with pytest.raises(FormulaError, match="has no response"):
        drop_fixed_term("~ a + b", "a")


def test_update_of_a_fitted_lmer():
    d = pymer.datasets.load("sleepstudy")
    before = d.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = pymer.lmer("Reaction ~ Days + (Days | Subject)", d, REML=False)
        m1 = m.update(". ~ . - (Days | Subject) + (1 | Subject)")
        direct = pymer.lmer("Reaction ~ Days + (1 | Subject)", d, REML=False)
        m2 = m.update("log(.) ~ . - Days")
    assert m1.formula == "Reaction ~ Days + (1 | Subject)"
    np.testing.assert_allclose(m1.fixef.values, direct.fixef.values, rtol=1e-10)
    assert m1.objective == pytest.approx(direct.objective, rel=1e-10)
    assert m2.formula == "log(Reaction) ~ (Days | Subject)"
    assert m2.fixef_names == ["(Intercept)"]
    pd.testing.assert_frame_equal(d, before)
