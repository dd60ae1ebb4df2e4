"""Printed summaries and printed fits against lme4's text (tests/reference/summaries.json,
made by summaries.R with R 4.2.2 and lme4 1.1-31).

Two views of each model:

- the layout: pymer's printer fed with lme4's own estimates (theta, fixed effects,
  their covariance, sigma, logLik, residual quantiles, NB theta) must give lme4's
  text character for character, trailing blanks included;
- the fit: pymer's own fit printed (and lmerTest's summaries with Satterthwaite's
  or Kenward-Roger's df, for the entries with a `ddf`) must give the same lines, with every word equal
  and every number close to lme4's (the optimizers stop at slightly different
  points of flat optima; standard errors of GLMMs are compared elsewhere, so the
  coefficient table and the correlations are only checked for their layout).
"""
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import pymer
from conftest import DATA, load_reference
from pymer.formula import deparse_lines
from pymer.report.rformat import abbreviate, format_pvalues
from pymer.report.summary import AGQ_LOGLIK_NOTE, formula_lines
from refmodels import _FAMILY, parse_call

REF = load_reference("summaries.json")
IDS = sorted(REF)


def _data(entry):
    if entry["data_dir"]:
        d = pd.read_csv(DATA / f"{entry['data']}.csv")
        d.attrs["name"] = "d"
        return d
    return pymer.datasets.load(entry["data"])


def _fit(entry):
    fun, formula, kw = parse_call(entry["call"].replace("lmerTest::lmer(", "lmer("))
    d = _data(entry)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fun == "lmer":
            return pymer.lmer(formula, d, REML=kw.get("REML", "TRUE") == "TRUE")
        if fun == "glmer.nb":
            return pymer.glmer_nb(formula, d)
        m = _FAMILY.match(kw["family"].strip())
        fam = pymer.families.get_family(m.group(1))
        fam = type(fam)(link=m.group(2)) if m.group(2) else fam
        return pymer.glmer(formula, d, family=fam, nAGQ=int(kw.get("nAGQ", 1)))


@pytest.fixture(scope="module")
def fits():
    cache = {}

    def get(key):
        if key not in cache:
            cache[key] = _fit(REF[key])
        return cache[key]
    return get


def _frozen(m, entry):
    """The fitted model with lme4's estimates put in place of pymer's."""
    v = entry["values"]
    m.theta = np.asarray(v["theta"], dtype=float)
    m.beta = np.asarray(v["fixef"], dtype=float)
    m.sigma = float(v["sigma"])
    m.objective = float(v["objective"])
    V = np.asarray(v["vcov"], dtype=float)
    m._vcov_matrix = lambda: V
    q = np.asarray(v["resid_quantiles"], dtype=float)
    m.residuals = lambda type="pearson", scaled=False: q      # its quantiles are q
    if v["nb_theta"] is not None:
        m.family = pymer.families.NegativeBinomial(v["nb_theta"])
    m.messages = [w for w in entry["warnings"] if not w.startswith("boundary (singular)")]
    m.opt.messages = []
    for k in ("fixef", "vcov", "varcorr", "_coef_table"):
        m.__dict__.pop(k, None)
    return m


def _text(m, entry, kind):
    if kind == "print":
        return str(m)
    return str(m.summary(ddf=entry["ddf"])) if entry["ddf"] else str(m.summary())


def _lme4_lines(entry, kind):
    # pymer's optimizers are NLopt's: it names them as lme4 names NLopt ("nloptwrap")
    lines = [ln.replace("optimizer (Nelder_Mead)", "optimizer (nloptwrap)") for ln in entry[kind]]
    if kind == "print":
        # a printed lmerTest fit differs from lme4's in its class name only
        lines = [ln.replace("['lmerModLmerTest']", "['lmerMod']") for ln in lines]
    return lines


@pytest.mark.parametrize("kind", ["summary", "print"])
@pytest.mark.parametrize("key", IDS)
def test_layout_with_lme4_estimates_is_lme4s(fits, key, kind):
    entry = REF[key]
    if entry["ddf"] and kind == "summary":
        pytest.skip("lmerTest's df come from the model, not from lme4's estimates")
    m = _frozen(_fit(entry), entry)
    assert m.aic == pytest.approx(entry["values"]["AIC"], rel=1e-12)
    text = _text(m, entry, kind)
    # a summary of an nAGQ > 1 fit adds a footnote on lme4's likelihood constant (issue 161)
    note = list(AGQ_LOGLIK_NOTE) if kind == "summary" and m.is_linear is False and m.nAGQ > 1 else []
    assert text.split("\n") == _lme4_lines(entry, kind) + note


_NUM = re.compile(r"(?<![\w.(])[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?(?![\w(])")


def _split(line):
    """(words with numbers replaced by '#', the numbers)."""
    nums = [float(x) for x in _NUM.findall(line)]
    return _NUM.sub("#", line).split(), nums


# lme4 warned "Model failed to converge" for these (see summaries.json's warnings)
LME4_NOT_CONVERGED = {"gaussian_log", "sleepstudy_quadratic"}


@pytest.mark.parametrize("kind", ["summary", "print"])
@pytest.mark.parametrize("key", IDS)
def test_fit_prints_as_lme4(fits, key, kind):
    entry = REF[key]
    m = fits(key)
    ours = _text(m, entry, kind).split("\n")
    expected = _lme4_lines(entry, kind)
    lme4_stopped_early = key in LME4_NOT_CONVERGED
    if lme4_stopped_early:
        # lme4 stops early there (its gradient check fails); pymer goes on to a lower
        # criterion and has no messages: the numbers differ, the layout does not
        cut = next(i for i, ln in enumerate(expected) if ln.startswith("optimizer ("))
        expected = expected[:cut]
    if key == "cbpp_binomial_nAGQ9":
        # lme4's adaptive-quadrature likelihood leaves out a constant (lme4 issue 161)
        expected = [ln for ln in expected if not re.match(r"^ *[-\d. ]+ *\d+ $", ln)]
        ours = [ln for ln in ours if not re.match(r"^ *[-\d. ]+ *\d+ $", ln)]
        if kind == "summary":           # ... and pymer's summary says so in a footnote
            assert ours[-3:] == list(AGQ_LOGLIK_NOTE[1:]) and ours[-4] == ""
            ours = ours[:-4]
    assert len(ours) == len(expected), "\n".join(ours)
    section = None
    for a, b in zip(ours, expected):
        if b in ("Fixed effects:", "Correlation of Fixed Effects:", "Fixed Effects:", "Random effects:"):
            section = b
        wa, na = _split(a)
        wb, nb = _split(b)
        if section == "Fixed effects:" and len(nb) > 1:
            # a coefficient row: its name and estimate; standard errors, z, p and stars
            # are compared with lme4's in the GLMM tests
            assert wa[0] == wb[0], (a, b)
            if lme4_stopped_early:
                continue
            np.testing.assert_allclose(na[0], nb[0], rtol=1e-2, atol=2e-3, err_msg=f"{a!r} vs {b!r}")
            continue
        assert wa == wb, (a, b)
        assert len(na) == len(nb), (a, b)
        if section != "Correlation of Fixed Effects:" and not lme4_stopped_early:
            np.testing.assert_allclose(na, nb, rtol=1e-2, atol=2e-3, err_msg=f"{a!r} vs {b!r}")


# ---- pieces ---------------------------------------------------------------------------

def test_abbreviate_as_r():
    # R 4.2.2: abbreviate(x, 6), abbreviate(x, 11), abbreviate(x, 4) (run as one vector)
    x = ["factor(DNA)25", "factor(DNA)1", "f(DNA)25", "ABCDEFGH", "x1234567", "scale(HEIGHT)",
         "(Intercept)", "period2", "YEAR96", "speciesA:forestB", "Days", "I(Days^2)",
         "as.numeric(period)", "trtb", "x:y", "log10(x + 1)", "a b c d e f g", "AbCdEfGhIj",
         "poly(x, 2)1", "nutrient:amdunclipped", "rack2", "statusTransplant", "a_b_c_d_e_f"]
    a6 = ["fc(DNA)25", "f(DNA)1", "f(DNA)25", "ABCDEF", "x12345", "s(HEIG", "(Intr)", "perid2",
          "YEAR96", "spcA:B", "Days", "I(D^2)", "as.n()", "trtb", "x:y", "l10(+1", "abcdefg",
          "AbCEGI", "p(,2)1", "ntrnt:", "rack2", "sttsTr", "a_____"]
    a11 = ["fctr(DNA)25", "factr(DNA)1", "f(DNA)25", "ABCDEFGH", "x1234567", "scl(HEIGHT)",
           "(Intercept)", "period2", "YEAR96", "spcsA:frstB", "Days", "I(Days^2)", "as.nmrc(pr)",
           "trtb", "x:y", "log10(x+1)", "abcdefg", "AbCdEfGhIj", "poly(x, 2)1", "ntrnt:mdncl",
           "rack2", "sttsTrnspln", "a_b_c_d_e_f"]
    a4 = ["fc(DNA)25", "f(DNA)1", "f(DNA)25", "ABCD", "x123", "s(HE", "(In)", "prd2", "YEAR",
          "sA:B", "Days", "I(D^", "a.()", "trtb", "x:y", "l1+1", "abcdefg", "ACEG", "p(,2", "ntr:",
          "rck2", "sttT", "a___"]
    assert abbreviate(x, 6) == a6
    assert abbreviate(x, 11) == a11
    assert abbreviate(x, 4) == a4
    assert abbreviate("factor(DNA)25", 6) == "f(DNA)"
    assert abbreviate(["factor(DNA)25", "factor(DNA)2"], 6) == ["f(DNA)25", "fc(DNA)2"]


def test_format_pvalues_as_r():
    # R 4.2.2 format.pval(..., digits = 3)
    assert format_pvalues([1.47e-09, 0.001068, 0.000474]) == ["1.47e-09", "0.001068", "0.000474"]
    assert format_pvalues([1.47e-09, 0.001068, 0.000474, 2e-5, 3e-6]) == \
        ["1.47e-09", "0.001068", "0.000474", "2.00e-05", "3.00e-06"]
    assert format_pvalues([1e-4, 0.5]) == ["1e-04", "5e-01"]
    assert format_pvalues([1.47e-09, 0.00009, 0.5]) == ["1.47e-09", "9.00e-05", "0.5"]
    assert format_pvalues([1e-20, 0.0512]) == ["<2e-16", "0.0512"]
    assert format_pvalues([1e-20, 0.000123]) == ["< 2e-16", "0.000123"]
    assert format_pvalues([1e-20, 1.5e-10]) == ["< 2e-16", "1.5e-10"]
    assert format_pvalues([1e-20, 0.5], digits=4) == ["<2e-16", "0.5"]
    assert format_pvalues([1e-20, 0.000123], digits=4) == ["< 2.2e-16", "0.000123"]
    assert format_pvalues([1e-20, 0.000123], digits=5) == ["< 2e-16", "0.000123"]
    assert format_pvalues([1e-20, 0.5], digits=2) == ["<2e-16", "0.5"]
    assert format_pvalues([1e-20, 1e-30]) == ["<2e-16", "<2e-16"]
    assert format_pvalues([np.nan, 0.5]) == ["NA", "0.5"]


def test_formula_lines_as_lme4():
    # R's deparse() breaks after an operator past 60 characters; lme4 prints the pieces
    # with cat(fill = TRUE) (see summaries.json's grouseticks entries)
    assert deparse_lines("y~x+(1|g)") == ["y ~ x + (1 | g)"]
    assert deparse_lines("y ~ aaaaaaaaaaaaaaaaaaaaaaa + bbbbbbbbbbbbbbbbbbbbbbbbbbb + ccccccccccccccccccccccccccc"
                         " + dddddddddddddddddddddd + eeeeeeeeeeeeeeeeeeeeeeeeeeee + (1|fffffffffffffffffff)"
                         " + (1 | ggggggggggggggggggggggggg:hhhhhhhhhhhhhhhhhhhhhh)") == [
        "y ~ aaaaaaaaaaaaaaaaaaaaaaa + bbbbbbbbbbbbbbbbbbbbbbbbbbb + ccccccccccccccccccccccccccc + ",
        "    dddddddddddddddddddddd + eeeeeeeeeeeeeeeeeeeeeeeeeeee + (1 | ",
        "    fffffffffffffffffff) + (1 | ggggggggggggggggggggggggg:hhhhhhhhhhhhhhhhhhhhhh)"]
    # R 4.2.2 + lme4 1.1-31, print(summary(lmer(...))) of these formulas
    assert formula_lines("y ~ a1234567890123 + b1234567890123 + c1234567890123 + d12345678 + (1|g)") == [
        "Formula: y ~ a1234567890123 + b1234567890123 + c1234567890123 + d12345678 +  ",
        "    (1 | g)"]
    assert formula_lines("y ~ a1234567890123 + b1234567890123 + c1234567890123 + d123456789012 + (1|g)") == [
        "Formula: ",
        "y ~ a1234567890123 + b1234567890123 + c1234567890123 + d123456789012 +  ",
        "    (1 | g)"]
    assert formula_lines("y ~ a1234567890123 + b1234567890123 + c1234567890123 + d1234567890123 + "
                         "e1234567890123 + f1234567890123 + h1234567890123 + i1234567890123 + (1|g)") == [
        "Formula: ",
        "y ~ a1234567890123 + b1234567890123 + c1234567890123 + d1234567890123 +  ",
        "    e1234567890123 + f1234567890123 + h1234567890123 + i1234567890123 +  ",
        "    (1 | g)"]


def test_glmm_summary_html_has_tables(fits):
    m = fits("gamma_log")
    h = m.summary()._repr_html_()
    assert "<table>" in h and "Residual" in h and "Fixed effects" in h and "sd__" not in h
    assert "Correlation of fixed effects" in h
    assert m._repr_html_().count("<table>") >= 3


def test_many_fixed_effects_hide_the_correlations():
    # R 4.2.2 / lme4 1.1-31, summary(lmer(Reaction ~ Subject + (1 | D), sleepstudy)) auto-printed
    # (D = factor(Days)): 18 fixed effects, the table ends the summary, then this note
    d = pymer.datasets.load("sleepstudy").copy()
    d["D"] = d["Days"].astype(str)
    lines = str(pymer.lmer("Reaction ~ Subject + (1 | D)", d).summary()).split("\n")
    assert lines[-8:] == [
        "Subject370   -50.432     14.054  -3.588",
        "Subject371   -47.150     14.054  -3.355",
        "Subject372   -24.248     14.054  -1.725",
        "",
        "Correlation matrix not shown by default, as p = 18 > 12.",
        "Use print(x, correlation=TRUE)  or",
        "    vcov(x)        if you need it",
        "",
    ]
