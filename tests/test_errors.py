"""Bad input: an error of the documented type whose message names the culprit,
and the DataFrame passed in is left unchanged."""
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import pymer
from pymer import FormulaError, PymerDataError
from pymer.errors import MissingColumnError
from pymer.terms import RandomEffects, ReTerm
from pymer.validate import (ResponseWarning, check_binomial_response, check_count_response,
                            check_family, check_family_response, check_grouping_factors,
                            check_link, check_nagq, check_positive_response,
                            check_response_not_constant, check_start, check_weights)

from conftest import raises_naming


@pytest.fixture(scope="module")
def sleep():
    return pymer.datasets.load("sleepstudy")


def _d(sleep, **cols):
    d = sleep.copy()
    for k, v in cols.items():
        d[k] = v(d) if callable(v) else v
    return d


F = "Reaction ~ Days + (Days | Subject)"

# (id, data builder, call, exception type, message pieces that must all appear)
CASES = [
    # ---- formula: columns and syntax
    ("missing column", lambda s: s, lambda d: pymer.lmer("Reaction ~ Dayz + (Days | Subject)", d),
     MissingColumnError, ["'Dayz'", "did you mean 'Days'"]),
    ("missing grouping column", lambda s: s, lambda d: pymer.lmer("Reaction ~ Days + (1 | subjct)", d),
     MissingColumnError, ["'subjct'", "'Subject'"]),
    ("missing column, no close name", lambda s: s,
     lambda d: pymer.lmer("Reaction ~ Days + zzz + (1 | Subject)", d),
     MissingColumnError, ["'zzz'", "columns: 'Reaction', 'Days', 'Subject'"]),
    ("missing weights column", lambda s: s, lambda d: pymer.lmer(F, d, weights="wts"),
     MissingColumnError, ["weights column 'wts'"]),
    ("missing offset column", lambda s: s, lambda d: pymer.lmer(F, d, offset="off"),
     MissingColumnError, ["offset column 'off'"]),
    ("unclosed parenthesis", lambda s: s, lambda d: pymer.lmer("Reaction ~ Days + (Days | Subject", d),
     FormulaError, ["unclosed parenthesis", "(Days | Subject"]),
    ("empty left side of |", lambda s: s, lambda d: pymer.lmer("Reaction ~ Days + ( | Subject)", d),
     FormulaError, ["empty left side of '|'", "( | Subject)"]),
    ("empty right side of |", lambda s: s, lambda d: pymer.lmer("Reaction ~ Days + (Days | )", d),
     FormulaError, ["empty right side of '|'"]),
    ("empty right side of ||", lambda s: s, lambda d: pymer.lmer("Reaction ~ Days + (Days || )", d),
     FormulaError, ["empty right side of '||'"]),
    ("no response", lambda s: s, lambda d: pymer.lmer("~ Days + (Days | Subject)", d),
     FormulaError, ["no response"]),
    ("no random effects", lambda s: s, lambda d: pymer.lmer("Reaction ~ Days", d),
     FormulaError, ["no random effects terms specified in formula"]),
    ("bar not at the top level", lambda s: s, lambda d: pymer.lmer("Reaction ~ Days * (Days | Subject)", d),
     FormulaError, ["Days | Subject", "top level"]),
    ("unknown function", lambda s: s, lambda d: pymer.lmer("Reaction ~ lgo(Days) + (1 | Subject)", d),
     FormulaError, ["lgo()"]),
    ("formula not a string", lambda s: s, lambda d: pymer.lmer(42, d),
     FormulaError, ["must be a string", "int"]),
    # ---- grouping factors (lme4's checks)
    ("one level", lambda s: _d(s, site="A"), lambda d: pymer.lmer("Reaction ~ Days + (1 | site)", d),
     PymerDataError, ["grouping factors must have > 1 sampled level", "'site'"]),
    ("as many levels as observations", lambda s: _d(s, obs=lambda d: np.arange(len(d)).astype(str)),
     lambda d: pymer.lmer("Reaction ~ Days + (1 | obs)", d),
     PymerDataError, ["number of levels of each grouping factor must be < number of observations",
                      "obs"]),
    ("more random effects than observations",
     lambda s: s.groupby("Subject", observed=True).head(2).reset_index(drop=True),
     lambda d: pymer.lmer(F, d),
     PymerDataError, ["number of observations (=36) <= number of random effects (=36)",
                      "(Days | Subject)"]),
    # ---- response
    ("string response", lambda s: _d(s, grade=lambda d: np.where(d.Reaction > 300, "slow", "fast")),
     lambda d: pymer.lmer("grade ~ Days + (1 | Subject)", d),
     PymerDataError, ["response 'grade'", "numeric"]),
    ("cbind response", lambda s: s, lambda d: pymer.lmer("cbind(Reaction, Days) ~ 1 + (1 | Subject)", d),
     PymerDataError, ["cbind(Reaction, Days)", "single numeric column"]),
    ("infinite response", lambda s: _d(s, Reaction=lambda d: d.Reaction.where(d.index != 5, np.inf)),
     lambda d: pymer.lmer(F, d), PymerDataError, ["'Reaction' has infinite values (1 rows)"]),
    ("infinite predictor", lambda s: _d(s, x=lambda d: np.where(d.index == 3, -np.inf, 1.0 * d.index)),
     lambda d: pymer.lmer("Reaction ~ x + (1 | Subject)", d),
     PymerDataError, ["'x' has infinite values"]),
    ("infinite after transformation", lambda s: s,
     lambda d: pymer.lmer("Reaction ~ log(Days) + (1 | Subject)", d),
     PymerDataError, ["'log(Days)' has infinite values"]),
    ("constant response", lambda s: _d(s, Reaction=250.0), lambda d: pymer.lmer(F, d),
     PymerDataError, ["response 'Reaction' is constant", "250"]),
    ("response fitted exactly", lambda s: _d(s, y=lambda d: 3.0 + 2.5 * d.Days),
     lambda d: pymer.lmer("y ~ Days + (1 | Subject)", d),
     PymerDataError, ["response 'y' is fitted exactly by the fixed effects"]),
    ("response too large to square", lambda s: _d(s, Reaction=lambda d: d.Reaction * 1e200),
     lambda d: pymer.lmer(F, d),
     PymerDataError, ["response 'Reaction'", "overflow", "divide it by 1e202"]),
    ("response too small to square", lambda s: _d(s, Reaction=lambda d: d.Reaction * 1e-300),
     lambda d: pymer.lmer(F, d), PymerDataError, ["response 'Reaction'", "underflow"]),
    ("predictor too large to square", lambda s: _d(s, big=lambda d: d.Days * 1e300),
     lambda d: pymer.lmer("Reaction ~ big + (1 | Subject)", d),
     PymerDataError, ["predictor column 'big'", "overflow"]),
    ("complex column", lambda s: _d(s, z=lambda d: d.Days + 1j),
     lambda d: pymer.lmer("Reaction ~ z + (1 | Subject)", d), PymerDataError, ["'z' is complex"]),
    ("dates", lambda s: _d(s, when=pd.Timestamp("2020-01-01")),
     lambda d: pymer.lmer("Reaction ~ when + (1 | Subject)", d),
     PymerDataError, ["'when' holds dates"]),
    # ---- rows
    ("empty data", lambda s: s.iloc[:0], lambda d: pymer.lmer(F, d), PymerDataError, ["no rows"]),
    ("all rows missing", lambda s: _d(s, x=np.nan), lambda d: pymer.lmer("Reaction ~ x + (1 | Subject)", d),
     PymerDataError, ["no complete rows", "'x' (180 missing)"]),
    ("duplicate column names", lambda s: pd.concat([s, s[["Days"]]], axis=1),
     lambda d: pymer.lmer(F, d), PymerDataError, ["several columns named 'Days'"]),
    ("data not a frame", lambda s: s, lambda d: pymer.lmer(F, 3.5),
     PymerDataError, ["data must be a pandas DataFrame", "float"]),
    ("data is None", lambda s: s, lambda d: pymer.lmer(F, None),
     PymerDataError, ["data must be a pandas DataFrame", "NoneType"]),
    # ---- weights
    ("negative weight (column)", lambda s: _d(s, w=lambda d: np.where(d.index == 7, -1.0, 1.0)),
     lambda d: pymer.lmer(F, d, weights="w"),
     PymerDataError, ["negative weights are not allowed", "column 'w'", "row 7", "-1"]),
    ("negative weight (vector)", lambda s: s,
     lambda d: pymer.lmer(F, d, weights=np.r_[np.ones(10), -2.0, np.ones(169)]),
     PymerDataError, ["negative weights are not allowed", "weights=", "row 10"]),
    ("infinite weight", lambda s: _d(s, w=lambda d: np.where(d.index == 2, np.inf, 1.0)),
     lambda d: pymer.lmer(F, d, weights="w"), PymerDataError, ["'w' has infinite values"]),
    ("all weights zero", lambda s: s, lambda d: pymer.lmer(F, d, weights=np.zeros(len(d))),
     PymerDataError, ["all weights are zero"]),
    ("weights of wrong length", lambda s: s, lambda d: pymer.lmer(F, d, weights=[1.0, 2.0]),
     PymerDataError, ["weights has length 2", "180 rows"]),
    ("non-numeric weights vector", lambda s: s, lambda d: pymer.lmer(F, d, weights=["a"] * len(d)),
     PymerDataError, ["weights must be numeric"]),
    ("two-dimensional weights", lambda s: s, lambda d: pymer.lmer(F, d, weights=np.ones((len(d), 2))),
     PymerDataError, ["weights must be one-dimensional", "(180, 2)"]),
    ("non-numeric weights column", lambda s: _d(s, w="heavy"), lambda d: pymer.lmer(F, d, weights="w"),
     PymerDataError, ["weights column 'w' is not numeric"]),
    # ---- arguments
    ("start of wrong length", lambda s: s, lambda d: pymer.lmer(F, d, start=[1.0]),
     ValueError, ["start has 1 values", "Subject.(Intercept)"]),
    ("negative start", lambda s: s, lambda d: pymer.lmer(F, d, start=[-1.0, 0.0, 1.0]),
     ValueError, ["-1", "Subject.(Intercept)", "lower bound"]),
    ("REML not logical", lambda s: s, lambda d: pymer.lmer(F, d, REML="yes"),
     TypeError, ["REML", "'yes'"]),
    ("unknown optimizer", lambda s: s, lambda d: pymer.lmer(F, d, optimizer="lbfgs"),
     ValueError, ["'lbfgs'"]),
]


@pytest.mark.parametrize("name, make, call, exc, pieces", CASES, ids=[c[0] for c in CASES])
def test_bad_input_names_the_culprit(sleep, name, make, call, exc, pieces):
    err = raises_naming(make(sleep), call, exc, pieces)
    assert isinstance(err, (ValueError, KeyError, TypeError))



def test_missing_column_is_keyerror_and_valueerror(sleep):
    with pytest.raises(KeyError):
        pymer.lmer("Reaction ~ Dayz + (1 | Subject)", sleep)
    with pytest.raises(ValueError):
        pymer.lmer("Reaction ~ Dayz + (1 | Subject)", sleep)


# ---------------------------------------------------------------------------
# predict(newdata)
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fitted(sleep):
    return pymer.lmer(F, sleep)


def test_predict_newdata_missing_column(fitted):
    new = pd.DataFrame({"Subject": ["308", "309"]})
    before = new.copy()
    with pytest.raises(MissingColumnError) as ei:
        fitted.predict(new)
    assert "'Days'" in str(ei.value) and isinstance(ei.value, KeyError)
    pd.testing.assert_frame_equal(new, before)
    # the grouping column is needed only with the random effects
    with pytest.raises(MissingColumnError, match="'Subject'"):
        fitted.predict(pd.DataFrame({"Days": [1.0]}))
    assert fitted.predict(pd.DataFrame({"Days": [0.0]}), re_form="~0")[0] == \
        pytest.approx(fitted.fixef["(Intercept)"])


def test_predict_new_level_needs_allow_new_levels(fitted):
    new = pd.DataFrame({"Days": [1.0, 2.0], "Subject": ["308", "999"]})
    before = new.copy()
    with pytest.raises(PymerDataError) as ei:
        fitted.predict(new)
    msg = str(ei.value)
    assert "'999'" in msg and "'Subject'" in msg and "allow_new_levels=True" in msg
    pd.testing.assert_frame_equal(new, before)
    p = fitted.predict(new, allow_new_levels=True)
    fe = fitted.fixef
    assert p[1] == pytest.approx(fe["(Intercept)"] + 2 * fe["Days"])
    assert p[0] == pytest.approx(fitted.predict(new.iloc[[0]])[0])


def test_predict_newdata_bad_values(fitted):
    with pytest.raises(PymerDataError, match="missing values in 'Days'"):
        fitted.predict(pd.DataFrame({"Days": [np.nan], "Subject": ["308"]}))
    with pytest.raises(PymerDataError, match="'Days' has infinite values"):
        fitted.predict(pd.DataFrame({"Days": [np.inf], "Subject": ["308"]}))
    with pytest.raises(PymerDataError, match="'Days' was numeric"):
        fitted.predict(pd.DataFrame({"Days": ["three"], "Subject": ["308"]}))


# ---------------------------------------------------------------------------
# check functions (validate.py), GLMM ones included
# ---------------------------------------------------------------------------

def _re(*specs):
    """RandomEffects from (group, nlev, k) triples (codes cycle through the levels)."""
    terms = []
    for g, nlev, k in specs:
        n = 12
        terms.append(ReTerm(group=g, colnames=["(Intercept)", "x", "z"][:k],
                            levels=[f"l{i}" for i in range(nlev)],
                            codes=np.arange(n) % nlev, X=np.ones((n, k)), lhs="1" if k == 1 else "x"))
    return RandomEffects(terms, 12)


def test_check_weights():
    assert check_weights(None, 3) is None
    np.testing.assert_array_equal(check_weights([0, 1, 2], 3), [0, 1, 2])   # zeros are fine
    with pytest.raises(PymerDataError, match=r"negative weights not allowed \(1 rows, first at row 1: -1\)"):
        check_weights([1, -1, 2], 3)
    with pytest.raises(PymerDataError, match="non-finite.*row 2: nan"):
        check_weights([1, 1, np.nan], 3)
    with pytest.raises(PymerDataError, match="all weights are zero"):
        check_weights([0, 0, 0], 3)
    with pytest.raises(PymerDataError, match=r"one value per observation \(3\)"):
        check_weights([1, 1], 3)


def test_check_grouping_factors_fixed_scale():
    # a GLMM with a fixed scale may have as many levels as observations (lme4 allows it)
    check_grouping_factors(_re(("obs", 12, 1)), 12, lmm=False)
    with pytest.raises(PymerDataError, match="number of levels of each grouping factor must be < "):
        check_grouping_factors(_re(("obs", 12, 1)), 12, lmm=True)
    with pytest.raises(PymerDataError, match=r"number of observations \(=12\) < number of random "
                                             r"effects \(=14\) for term \(x \| g\)"):
        check_grouping_factors(_re(("g", 7, 2)), 12, lmm=False)
    with pytest.raises(PymerDataError, match=r"> 1 sampled level \(problem: 'g' has 1: 'l0'\)"):
        check_grouping_factors(_re(("g", 1, 1)), 12, lmm=False)


def test_check_start():
    re_ = _re(("g", 3, 2))
    np.testing.assert_array_equal(check_start([1, 0.5, 1], re_), [1, 0.5, 1])
    np.testing.assert_array_equal(check_start({"theta": [1, -0.5, 1]}, re_), [1, -0.5, 1])
    with pytest.raises(ValueError, match=r"start has 2 values; theta has 3 \(g.\(Intercept\), "
                                         r"g.x.\(Intercept\), g.x\)"):
        check_start([1, 1], re_)
    with pytest.raises(ValueError, match="non-finite"):
        check_start([1, np.nan, 1], re_)
    with pytest.raises(TypeError):
        check_start("abc", re_)
    with pytest.raises(TypeError, match="'theta' only"):
        check_start({"fixef": [1]}, re_)


def test_check_family_and_link():
    assert check_family("binomial") == "binomial"
    assert check_family("gamma") == "Gamma"
    assert check_family("inverse_gaussian") == "inverse.gaussian"
    with pytest.raises(ValueError, match="family 'binomail' not recognized; did you mean 'binomial'"):
        check_family("binomail")
    with pytest.raises(ValueError, match="family 'weibull' not recognized; available families are"):
        check_family("weibull")
    with pytest.raises(TypeError, match="family must be a name"):
        check_family(3)
    assert check_link("binomial", "probit") == "probit"
    # R's family functions take any link make.link() knows (binomial identity, poisson logit)
    assert check_link("binomial", "identity") == "identity"
    assert check_link("poisson", "logit") == "logit"
    with pytest.raises(ValueError, match=re.escape(
            'link "foo" not available for binomial family; available links are '
            "'logit', 'probit', 'cauchit', 'log', 'cloglog', 'identity', 'sqrt', '1/mu^2', 'inverse'")):
        check_link("binomial", "foo")
    with pytest.raises(TypeError):
        check_link("poisson", None)


def test_check_binomial_response():
    check_binomial_response([0, 1, 1, 0])
    check_binomial_response([0.25, 0.5], weights=[4, 2])
    with pytest.raises(PymerDataError, match=r"y values must be 0 <= y <= 1: binomial response 'dead'"
                                             r" has 2 value\(s\) outside \[0, 1\] \(first at row 1: 2\)"):
        check_binomial_response([0, 2, 1, -1], name="dead")
    with pytest.warns(ResponseWarning, match="non-integer #successes"):
        check_binomial_response([0.3, 0.5], weights=[2, 2])
    check_binomial_response(np.array([[1, 2], [0, 3]]), name="cbind(s, f)")
    with pytest.raises(PymerDataError, match=r"negative counts in the binomial response 'cbind\(s, f\)'"
                                             r" \(1 rows, first at row 1: 2, -1\)"):
        check_binomial_response(np.array([[1, 2], [2, -1]]), name="cbind(s, f)")
    with pytest.warns(ResponseWarning, match="non-integer counts"):
        check_binomial_response(np.array([[1.5, 2], [2, 1]]))
    with pytest.raises(PymerDataError, match="2 columns"):
        check_binomial_response(np.ones((3, 3)))


def test_check_count_and_positive_responses():
    check_count_response([0, 1, 5])
    with pytest.raises(PymerDataError, match="negative values not allowed for the 'Poisson' family: "
                                             r"response 'ticks' has 1 negative value \(first at row 2: -3\)"):
        check_count_response([0, 1, -3], name="ticks")
    with pytest.raises(PymerDataError, match="negative values not allowed for the negative binomial"):
        check_count_response([-1], family="negative.binomial")
    with pytest.warns(ResponseWarning, match="non-integer values in the 'Poisson' response 'y'"):
        check_count_response([0.5, 1], name="y")
    check_positive_response([0.1, 2.0])
    with pytest.raises(PymerDataError, match="non-positive values not allowed for the 'Gamma' family: "
                                             r"response 'y' has 1 value <= 0 \(first at row 0: 0\)"):
        check_positive_response([0.0, 1.0], name="y")
    with pytest.raises(PymerDataError, match="positive values only are allowed for the "
                                             "'inverse.gaussian' family"):
        check_positive_response([-1.0], family="inverse.gaussian")
    # the dispatcher
    with pytest.raises(PymerDataError, match="'Poisson'"):
        check_family_response("poisson", [-1])
    with pytest.raises(PymerDataError, match="0 <= y <= 1"):
        check_family_response("binomial", [3])
    with pytest.raises(PymerDataError, match="'Gamma'"):
        check_family_response("Gamma", [0])
    check_family_response("gaussian", [-5.0, 3.0])


def test_check_response_not_constant():
    check_response_not_constant([0, 1, 0])
    with pytest.raises(PymerDataError, match="Response is constant: every value of 'y' is 1"):
        check_response_not_constant([1, 1, 1], name="y")
    with pytest.raises(PymerDataError, match="Response is constant"):
        check_response_not_constant(np.array([[1, 9], [2, 18]]))     # all proportions 0.1


def test_check_nagq():
    assert check_nagq(0, _re(("g", 3, 1))) == 0
    assert check_nagq(1, _re(("g", 3, 2), ("h", 4, 1))) == 1
    assert check_nagq(9, _re(("g", 3, 1))) == 9
    assert check_nagq(5.0, _re(("g", 3, 1))) == 5
    with pytest.raises(ValueError, match=r"nAGQ > 1 is only available for models with a single, "
                                         r"scalar random-effects term \(this model has \(x \| g\)\)"):
        check_nagq(5, _re(("g", 3, 2)))
    with pytest.raises(ValueError, match=r"this model has \(1 \| g\) \+ \(1 \| h\)"):
        check_nagq(5, _re(("g", 3, 1), ("h", 4, 1)))
    with pytest.raises(ValueError, match="whole number >= 0"):
        check_nagq(-1, _re(("g", 3, 1)))
    with pytest.raises(ValueError, match="whole number >= 0"):
        check_nagq(2.5, _re(("g", 3, 1)))
    with pytest.raises(TypeError):
        check_nagq("7", _re(("g", 3, 1)))
    with pytest.raises(TypeError):
        check_nagq(True, _re(("g", 3, 1)))


# ---------------------------------------------------------------------------
# glmer(): the family's response checks, nAGQ, control (messages as R's where R has one;
# R 4.2.2 / lme4 1.1-31 behaviour noted for each)
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cbpp():
    d = pymer.datasets.load("cbpp").copy()
    d["prop"] = d["incidence"] / d["size"]
    return d


CBIND = "cbind(incidence, size - incidence) ~ period + (1 | herd)"

GLMM_CASES = [
    # R: "y values must be 0 <= y <= 1"
    ("binomial counts without trials", lambda d: d,
     lambda d: pymer.glmer("incidence ~ period + (1 | herd)", d, family="binomial"),
     PymerDataError, ["y values must be 0 <= y <= 1", "'incidence'", "cbind(successes, failures)"]),
    ("binomial negative counts", lambda d: _d(d, neg=lambda x: x.incidence - 1),
     lambda d: pymer.glmer("cbind(neg, size - incidence) ~ period + (1 | herd)", d, family="binomial"),
     PymerDataError, ["negative counts in the binomial response 'cbind(neg, size - incidence)'"]),
    # R: "negative values not allowed for the 'Poisson' family"
    ("poisson negative", lambda d: _d(d, neg=lambda x: x.incidence - 1),
     lambda d: pymer.glmer("neg ~ period + (1 | herd)", d, family="poisson"),
     PymerDataError, ["negative values not allowed for the 'Poisson' family", "'neg'", "negative values",
                      "row 3: -1"]),
    # R: "non-positive values not allowed for the 'Gamma' family"
    ("Gamma zero", lambda d: d, lambda d: pymer.glmer("incidence ~ period + (1 | herd)", d, family="Gamma"),
     PymerDataError, ["non-positive values not allowed for the 'Gamma' family", "'incidence'",
                      "has 22 values <= 0 (first at row 3: 0)"]),
    # R: "positive values only are allowed for the 'inverse.gaussian' family"
    ("inverse Gaussian zero", lambda d: d,
     lambda d: pymer.glmer("incidence ~ period + (1 | herd)", d, family="inverse.gaussian"),
     PymerDataError, ["positive values only are allowed for the 'inverse.gaussian' family"]),
    ("factor response for Poisson", lambda d: d,
     lambda d: pymer.glmer("herd ~ period + (1 | herd)", d, family="poisson"),
     PymerDataError, ["response 'herd' is a factor", "poisson family needs one numeric column"]),
    ("cbind response for Gamma", lambda d: d, lambda d: pymer.glmer(CBIND, d, family="Gamma"),
     PymerDataError, ["cbind(...)", "Gamma family"]),
    # R: "Response is constant"
    ("constant response", lambda d: _d(d, one=1.0),
     lambda d: pymer.glmer("one ~ period + (1 | herd)", d, family="poisson"),
     PymerDataError, ["Response is constant", "'one'"]),
    # R: "variable lengths differ (found for '(weights)')"
    ("weights of wrong length", lambda d: d,
     lambda d: pymer.glmer("prop ~ period + (1 | herd)", d, family="binomial", weights=np.ones(10)),
     PymerDataError, ["weights has length 10", "56 rows"]),
    # R: "all(weights >= 0) is not TRUE"
    ("negative weights", lambda d: _d(d, w=lambda x: x["size"] - 3.0),
     lambda d: pymer.glmer("prop ~ period + (1 | herd)", d, family="binomial", weights="w"),
     PymerDataError, ["negative weights are not allowed", "column 'w'"]),
    # R: "nAGQ > 1 is only available for models with a single, scalar random-effects term"
    ("nAGQ > 1 with two terms", lambda d: _d(d, g2=lambda x: (np.arange(len(x)) % 4).astype(str)),
     lambda d: pymer.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd) + (1 | g2)", d,
                           family="binomial", nAGQ=5),
     ValueError, ["nAGQ > 1 is only available for models with a single, scalar random-effects term",
                  "(1 | herd) + (1 | g2)"]),
    ("nAGQ > 1 with a vector-valued term", lambda d: _d(d, x=lambda x: np.arange(len(x)) % 3 * 1.0),
     lambda d: pymer.glmer("cbind(incidence, size - incidence) ~ x + (x | herd)", d, family="binomial",
                           nAGQ=9),
     ValueError, ["single, scalar random-effects term", "(x | herd)"]),
    ("nAGQ negative", lambda d: d, lambda d: pymer.glmer(CBIND, d, family="binomial", nAGQ=-1),
     ValueError, ["nAGQ must be a whole number >= 0"]),
    ("nAGQ not a number", lambda d: d, lambda d: pymer.glmer(CBIND, d, family="binomial", nAGQ="9"),
     TypeError, ["nAGQ must be a whole number", "str"]),
    ("family misspelled", lambda d: d, lambda d: pymer.glmer(CBIND, d, family="binomal"),
     ValueError, ["family 'binomal' not recognized", "did you mean 'binomial'"]),
    # R: "unused argument (foo = 1)"
    ("glmer control unknown key", lambda d: d,
     lambda d: pymer.glmer(CBIND, d, family="binomial", control={"ftol_abss": 1e-6}),
     ValueError, ["unknown control setting 'ftol_abss' for glmer()", "did you mean 'ftol_abs'",
                  "known settings: ", "ftol_abs, xtol_abs, ftol_rel"]),
    ("glmer control bad value", lambda d: d,
     lambda d: pymer.glmer(CBIND, d, family="binomial", control={"xtol_abs": -1}),
     ValueError, ["control['xtol_abs'] must be a finite number >= 0", "-1"]),
    ("glmer control not a dict", lambda d: d,
     lambda d: pymer.glmer(CBIND, d, family="binomial", control=["ftol_abs"]),
     TypeError, ["control must be a dict", "list"]),
]


@pytest.mark.parametrize("name, make, call, exc, pieces", GLMM_CASES, ids=[c[0] for c in GLMM_CASES])
def test_glmer_bad_input_names_the_culprit(cbpp, name, make, call, exc, pieces):
    raises_naming(make(cbpp), call, exc, pieces)


def test_lmer_control_unknown_key(sleep):
    # R: lmer(..., control = lmerControl(fooo = 1)) stops with "unused argument (fooo = 1)"
    with pytest.raises(ValueError, match=r"unknown control setting 'maxevals' for lmer\(\); "
                                         r"did you mean 'maxeval'\?"):
        pymer.lmer(F, sleep, control={"maxevals": 10})
    with pytest.raises(ValueError, match=r"control\['maxeval'\] must be a whole number >= 1"):
        pymer.lmer(F, sleep, control={"maxeval": 0})
    with pytest.raises(TypeError, match=r"control\['check_conv'\] must be True or False"):
        pymer.lmer(F, sleep, control={"check_conv": "no"})
    m = pymer.lmer(F, sleep, control={"check_conv": False, "ftol_abs": 1e-10})
    assert m.objective == pytest.approx(1743.628, abs=1e-3)


def test_glmer_warnings_as_r(cbpp):
    # R warns "non-integer x = 2.500000" (dpois) for a Poisson response with fractions
    d = _d(cbpp, half=lambda x: x.incidence + 0.5)
    with pytest.warns(pymer.ResponseWarning, match=r"non-integer values in the 'Poisson' response 'half'"):
        pymer.glmer("half ~ period + (1 | herd)", d, family="poisson")
    # R: "non-integer #successes in a binomial glm!"
    with pytest.warns(pymer.ResponseWarning, match="non-integer #successes"):
        pymer.glmer("prop ~ period + (1 | herd)", cbpp, family="binomial", weights=cbpp["size"] + 0.5)
    # R takes the first level of a factor response as failure and all others as success
    d3 = _d(cbpp, f3=lambda x: pd.Categorical(np.array(["a", "b", "c"])[np.arange(len(x)) % 3]))
    with pytest.warns(pymer.ResponseWarning, match=r"factor response 'f3' has 3 levels.*first \('a'\) "
                                                   r"counts as failure"):
        g = pymer.glmer("f3 ~ period + (1 | herd)", d3, family="binomial")
    # lme4 1.1-31 gives these estimates (singular fit)
    np.testing.assert_allclose(g.fixef.values, [0.6931472, 0.2231436, -0.4054651, 0.1177830], atol=2e-4)


def test_warning_classes_are_exported():
    for name in ("ConvergenceWarning", "SingularFitWarning", "PredictorScaleWarning", "PerfectFitWarning",
                 "RankDeficiencyWarning", "ResponseWarning", "RefitWarning"):
        cls = getattr(pymer, name)
        assert issubclass(cls, UserWarning) and name in pymer.__all__
    for name in ("FormulaError", "PymerDataError", "MissingColumnError"):
        assert issubclass(getattr(pymer, name), ValueError) and name in pymer.__all__
    with pytest.warns(pymer.SingularFitWarning):
        pymer.lmer("Yield ~ 1 + (1 | Batch)", pymer.datasets.load("Dyestuff2"))


def test_simulate_nsim_must_be_positive_integer():
    sleep = pymer.datasets.load("sleepstudy")
    cbpp = pymer.datasets.load("cbpp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = [pymer.lmer("Reaction ~ Days + (Days | Subject)", sleep),
                pymer.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                            family="binomial")]
    for m in fits:
        for bad in (-1, 0, 2.5, True):
            with pytest.raises(ValueError, match="nsim must be a positive integer"):
                m.simulate(bad)


def test_family_eval_accepts_read_only_arrays():
    import numpy as np
    a = np.linspace(-2, 2, 5)
    a.flags.writeable = False
    mu = pymer.families.get_family("poisson").eval(a, a * 0 + 1, np.ones(5))[0]
    np.testing.assert_allclose(mu, np.exp(a))
