"""R's formula language as lme4 reads it (issue 12): poly()/ns()/bs() kept for new
data, stats::/splines:: prefixes, C(), relevel(), lme4's dummy(), the contrasts=
argument, '.', %in%, bar terms without parentheses; and the errors and warnings
for bad input.

R's answers are in tests/reference/formula_language.json (formula_language.R):
model.matrix column names and values, the model matrix of new data built from the
fitted terms, and lmer fits (objective, fixef, theta, predict(re.form = NA)).
"""
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import load_reference

import pymer
from pymer.errors import FormulaError, PymerDataError
from pymer.formula import parse_formula

REF = load_reference("formula_language.json")
DATA = {k: pymer.datasets.load(k) for k in ("sleepstudy", "cake", "Dyestuff")}


def _matrix_data(extra=None):
    """sleepstudy with a matrix-valued column X = cbind(a = Days, b = Days^2), as a dict."""
    d = DATA["sleepstudy"]
    X = pd.DataFrame({"a": d["Days"].to_numpy(float), "b": d["Days"].to_numpy(float) ** 2})
    return {"Reaction": d["Reaction"].to_numpy(), "Days": d["Days"].to_numpy(),
            "Subject": d["Subject"], "X": X, **(extra or {})}


def _data(name):
    return _matrix_data() if name == "sleepstudy_matrix" else DATA[name]


def _newdata(name):
    if name == "sleepstudy":
        return pd.DataFrame({"Days": [-1, 0, 0.5, 3.25, 9, 11.5], "Subject": "308"})
    temps = DATA["cake"]["temperature"].cat.categories
    return pd.DataFrame({
        "recipe": ["A", "B", "C"],
        "temperature": pd.Categorical(["175", "205", "225"], categories=temps, ordered=True),
        "temp": [170.0, 200.0, 230.0]})


def _contrasts(spec):
    """The JSON's contrasts as pymer takes them (a matrix with colnames -> a DataFrame)."""
    if spec is None:
        return None
    out = {}
    for k, v in spec.items():
        if isinstance(v, dict):
            m = np.array(v["matrix"], dtype=float)
            out[k] = pd.DataFrame(m, columns=v["colnames"]) if v.get("colnames") else m
        else:
            out[k] = v
    return out


@pytest.mark.parametrize("case_id", list(REF["matrices"]))
def test_model_matrix_as_r(case_id):
    case = REF["matrices"][case_id]
    data = _data(case["data"])
    before = data.copy()
    formula = case["formula"]
    if formula.startswith("~"):
        data = {**data, "y_": 1.0} if isinstance(data, dict) else data.assign(y_=1.0)
        formula = "y_ " + formula
    mf = parse_formula(formula, data, require_random=False,
                       contrasts=_contrasts(case.get("contrasts")))
    assert mf.fixef_names == case["colnames"]
    np.testing.assert_allclose(mf.X, np.array(case["X"]), rtol=1e-12, atol=1e-13)
    if "new_X" in case:
        new = mf.new_data(_newdata(case["data"]), include_random=False)
        np.testing.assert_allclose(new.X, np.array(case["new_X"]), rtol=1e-12, atol=1e-13)
    if isinstance(before, pd.DataFrame):
        pd.testing.assert_frame_equal(DATA[case["data"]], before)


@pytest.mark.parametrize("case_id", list(REF["fits"]))
def test_lmer_fit_as_lme4(case_id):
    case = REF["fits"][case_id]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = pymer.lmer(case["formula"], _data(case["data"]), REML=case["REML"],
                       contrasts=case.get("contrasts"))
    assert list(m.fixef.index) == case["fixef_names"]
    # never worse than lme4's optimum, and at the same optimum
    assert m.objective <= case["objective"] * (1 + 1e-9)
    assert m.objective == pytest.approx(case["objective"], rel=1e-7)
    np.testing.assert_allclose(m.fixef.to_numpy(), case["fixef"], rtol=2e-6)
    np.testing.assert_allclose(m.theta, case["theta"], rtol=1e-4, atol=1e-4)
    if "predict" in case:
        p = np.asarray(m.predict(_newdata(case["data"]), re_form="~0"))
        np.testing.assert_allclose(p, case["predict"], rtol=2e-6)


def test_bare_bar_is_one_random_term():
    d = DATA["sleepstudy"]
    a = parse_formula("Reaction ~ Days | Subject", d)
    b = parse_formula("Reaction ~ 1 + (Days | Subject)", d)
    assert a.fixef_names == ["(Intercept)"]
    assert [r.colnames for r in a.random] == [r.colnames for r in b.random]
    np.testing.assert_array_equal(a.random[0].X, b.random[0].X)
    c = parse_formula("Reaction ~ Days || Subject", d)
    assert [r.colnames for r in c.random] == [["(Intercept)"], ["Days"]]


def test_contrasts_recorded_in_call_and_kept_by_update():
    cake = DATA["cake"]
    m = pymer.lmer("angle ~ recipe + temp + (1 | replicate)", cake,
                   contrasts={"recipe": "contr.sum"})
    assert m.model.call.args["contrasts"] == {"recipe": "contr.sum"}
    assert "contrasts = {'recipe': 'contr.sum'}" in repr(m.model.call)
    m2 = m.update("~ . - temp")
    assert list(m2.fixef.index) == ["(Intercept)", "recipe1", "recipe2"]
    m3 = m.update(contrasts=None)
    assert list(m3.fixef.index) == ["(Intercept)", "recipeB", "recipeC", "temp"]
    # the coding changes the REML constant log|R_X|^2, not the fit
    np.testing.assert_allclose(m3.theta, m.theta, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(m3.fitted), np.asarray(m.fitted), rtol=1e-8)


def test_glmer_contrasts_pass_through():
    cbpp = pymer.datasets.load("cbpp")
    g = pymer.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                    family="binomial", contrasts={"period": "contr.helmert"})
    assert list(g.fixef.index) == ["(Intercept)", "period1", "period2", "period3"]
    assert g.model.call.args["contrasts"] == {"period": "contr.helmert"}
    g0 = pymer.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                     family="binomial")
    assert g.loglik == pytest.approx(g0.loglik, rel=1e-7)


def test_contrasts_treatment_base_string():
    cake = DATA["cake"].assign(y_=1.0)
    mf = parse_formula("y_ ~ recipe", cake, require_random=False,
                       contrasts={"recipe": "contr.treatment(base = 2)"})
    assert mf.fixef_names == ["(Intercept)", "recipeA", "recipeC"]
    mf = parse_formula("y_ ~ recipe", cake, require_random=False,
                       contrasts={"recipe": "contr.SAS"})
    assert mf.fixef_names == ["(Intercept)", "recipeA", "recipeB"]


def test_dot_excludes_response_only():
    d = DATA["sleepstudy"]
    mf = parse_formula("Reaction ~ . + (1 | Subject)", d)
    assert mf.fixef_names[:2] == ["(Intercept)", "Days"]
    assert mf.fixef_names[2] == "Subject309" and len(mf.fixef_names) == 19


def test_poly_predict_keeps_fitted_coefficients():
    # a basis recomputed on the new rows would differ: the fitted one is reused
    d = DATA["sleepstudy"]
    m = pymer.lmer("Reaction ~ poly(Days, 2) + (1 | Subject)", d)
    one = m.predict(pd.DataFrame({"Days": [4.0]}), re_form="~0")
    both = m.predict(pd.DataFrame({"Days": [4.0, 8.0]}), re_form="~0")
    assert np.asarray(one)[0] == pytest.approx(np.asarray(both)[0], rel=1e-12)
    fit0 = m.predict(d.iloc[:10], re_form="~0")
    np.testing.assert_allclose(np.asarray(fit0), m.model.mf.X[:10] @ m.fixef.to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("formula, data_fix, match", [
    ("Reaction ~ poly(Days, 10) + (1 | Subject)", None, "less than the number of unique points"),
    ("Reaction ~ poly(x, 2) + (1 | Subject)", "x_na", "missing values are not allowed in 'poly"),
    ("Reaction ~ bs(Days, df = 2) + (1 | Subject)", None, "'df' is too small.*at least 3"),
    ("Reaction ~ ns(Days, knots = 20) + (1 | Subject)", None, "strictly inside the boundary"),
    ("Reaction ~ ns(Days, Boundary.knots = c(5, 1)) + (1 | Subject)", None, "two increasing"),
    ("Reaction ~ C(Days, contr.sum) + (1 | Subject)", None, r"C\(\) needs a factor; 'Days'"),
    ("Reaction ~ C(Subject, contr.foo) + (1 | Subject)", None, "unknown contrasts 'contr.foo'"),
    ("Reaction ~ relevel(Subject, ref = \"999\") + (1 | Subject)", None, "'999' is not one of"),
    ("Reaction ~ dummy(Subject, \"999\") + (1 | Subject)", None, r"\['999'\].*not levels of 'Subject'"),
    ("Reaction ~ MASS::poly(Days, 2) + (1 | Subject)", None, "package 'MASS'"),
    ("Reaction ~ poly(Days, coefs = 2) + (1 | Subject)", None, "coefs"),
])
def test_bad_input_errors(formula, data_fix, match):
    d = DATA["sleepstudy"].copy()
    if data_fix == "x_na":
        d["x"] = np.where(np.arange(len(d)) == 3, np.nan, d["Days"])
    before = d.copy()
    with pytest.raises(FormulaError, match=match):
        parse_formula(formula, d)
    pd.testing.assert_frame_equal(d, before)


@pytest.mark.parametrize("contrasts, match", [
    ({"recipe": "contr.wrong"}, "unknown contrasts 'contr.wrong' for 'recipe'"),
    ({"recipe": "contr.treatment(base = 7)"}, "base must be between 1 and 3"),
    ({"recipe": np.ones((2, 2))}, r"'recipe' has shape \(2, 2\)"),
    ({"recipe": np.ones((3, 1))}, "has 1 columns; pymer needs all 2"),
    ({"recipe": [["a", "b"]] * 3}, "must be a contr.* name or a numeric matrix"),
    ("contr.sum", "contrasts must be a dict"),
])
def test_bad_contrasts(contrasts, match):
    with pytest.raises(FormulaError, match=match):
        parse_formula("angle ~ recipe + (1 | replicate)", DATA["cake"], contrasts=contrasts)


def test_contrasts_for_absent_variable_warn():
    with pytest.warns(UserWarning, match="variable 'Subject' is absent"):
        parse_formula("Reaction ~ Days + (1 | Subject)", DATA["sleepstudy"],
                      contrasts={"Subject": "contr.sum"})


def test_new_data_errors_for_bases():
    d = DATA["sleepstudy"]
    mf = parse_formula("Reaction ~ poly(Days, 2) + (1 | Subject)", d)
    with pytest.raises(PymerDataError, match="missing values in 'Days'"):
        mf.new_data(pd.DataFrame({"Days": [1.0, np.nan]}), include_random=False)


def test_text_column_with_many_levels_warns():
    d = DATA["sleepstudy"].assign(when=[f"2024-01-{i % 91:03d}" for i in range(180)])
    with pytest.warns(UserWarning, match="column 'when' holds text with 91 distinct values in 180"):
        parse_formula("Reaction ~ Days + (1 | Subject) + (1 | when)", d)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parse_formula("Reaction ~ Days + (1 | Subject)", d)     # unused: no warning
        half = d.assign(when=[f"2024-01-{i % 90:03d}" for i in range(180)])
        parse_formula("Reaction ~ Days + (1 | when)", half)      # exactly half: no warning
        # a Categorical is a deliberate factor: no warning
        parse_formula("Reaction ~ Days + (1 | when)", d.assign(when=d["when"].astype("category")))


def test_datetime_column_is_a_clear_error():
    d = DATA["sleepstudy"].assign(when=pd.date_range("2024-01-01", periods=180))
    with pytest.raises(PymerDataError, match="column 'when' holds dates/times"):
        parse_formula("Reaction ~ when + (1 | Subject)", d)


def test_matrix_column_new_data_and_errors():
    m = pymer.lmer("Reaction ~ X + (1 | Subject)", _matrix_data())
    assert list(m.fixef.index) == ["(Intercept)", "Xa", "Xb"]
    new = {"X": np.array([[1.0, 1.0], [2.0, 4.0]])}
    p = np.asarray(m.predict(new, re_form="~0"))
    np.testing.assert_allclose(p, m.fixef.iloc[0] + new["X"] @ m.fixef.iloc[1:].to_numpy())
    with pytest.raises(PymerDataError, match="'X' had 2 column.*has 3 in the new data"):
        m.predict({"X": np.ones((2, 3))}, re_form="~0")
    df = DATA["sleepstudy"][["Reaction", "Subject"]].copy()
    df["X"] = [np.array([1.0, 2.0])] * 179 + [np.array([1.0])]
    with pytest.raises(PymerDataError, match="column 'X' holds arrays that are not rows"):
        parse_formula("Reaction ~ X + (1 | Subject)", df)
    with pytest.raises(PymerDataError, match="'X' is a matrix; it cannot be a factor"):
        parse_formula("Reaction ~ factor(X) + (1 | Subject)", _matrix_data())
    with pytest.raises(FormulaError, match="scale\\(\\) of a matrix"):
        parse_formula("Reaction ~ scale(X) + (1 | Subject)", _matrix_data())
