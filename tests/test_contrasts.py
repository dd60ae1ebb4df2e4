"""pymer.emmeans and pymer.glht against emmeans and multcomp (tests/reference/contrasts.json,
made by tests/reference/contrasts_models.R).

Tolerances: lmer estimates, SEs and intervals to 1e-5 relative (of the SE for values
near zero), GLMMs to 3e-4 (pymer's and lme4's optima differ at ~1e-4 relative; the
GLMMs in R run PIRLS to convergence, tolPwrss = 1e-12, else lme4's SEs move by ~1%);
Kenward-Roger/Satterthwaite df to 1e-3; exact p-values (Tukey's studentized range,
Scheffe, Sidak, Bonferroni, Holm, none) to 1e-5 for lmer. Randomized ones are compared at
R's own precision: multcomp's single-step p-values and quantiles come from mvtnorm's
GenzBretz(maxpts = 25000, abseps = 0.001) (it prints 3-4 digits), emmeans' "mvt"
likewise, so 2e-3 absolute against mvtnorm run to abseps = 1e-5 (and 0.012 against
multcomp's default output, which is off by up to 0.01 for the singular correlation of
all pairwise comparisons of cbpp's periods). emmeans' "dunnettx" is its own undocumented approximation to Dunnett's
equicorrelated (rho = 1/2) distribution; pymer computes that distribution exactly, and
the two differ by up to 0.01 in the cases here (the exact value is the one multcomp's
Dunnett agrees with), so 0.012 absolute there.
"""
import json
import pathlib
import warnings

import numpy as np
import pandas as pd
import pytest

import pymer
from conftest import raises_naming
from pymer.contrasts import adjust

REF = json.loads((pathlib.Path(__file__).parent / "reference" / "contrasts.json").read_text())
CASES = {c["id"]: c for c in REF["cases"]}

FORMULAS = {
    "cake_temp": ("lmer", "angle ~ recipe * temp + (1 | recipe:replicate)", "cake", {}),
    "cake_add": ("lmer", "angle ~ recipe + temperature + (1 | recipe:replicate)", "cake", {}),
    "cake_int": ("lmer", "angle ~ recipe * temperature + (1 | recipe:replicate)", "cake", {}),
    "cbpp": ("glmer", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp",
             {"family": "binomial"}),
    "grouse": ("glmer", "TICKS ~ YEAR + HEIGHT + (1 | LOCATION)", "grouseticks", {"family": "poisson"}),
    "lamprey": ("glmer", "Detect ~ factor(DNA) + Fluor + (1 | tank)", "lamprey_lab_DNA", {"family": "binomial"}),
    "cbpp_offset": ("glmer", "incidence ~ period + offset(log(size)) + (1 | herd)", "cbpp", {"family": "poisson"}),
    "grouse_nb": ("glmer_nb", "TICKS ~ YEAR + (1 | LOCATION)", "grouseticks", {}),
}
_FITS = {}


def fit(model_id):
    if model_id not in _FITS:
        fn, f, data, kw = FORMULAS[model_id]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITS[model_id] = getattr(pymer, fn)(f, pymer.datasets.load(data), **kw)
    return _FITS[model_id]


_EMM = {}


def _run_emmeans(c):
    if c["id"] not in _EMM:
        _EMM[c["id"]] = _emmeans(c)
    return _EMM[c["id"]]


def _emmeans(c):
    a = c["args"]
    return pymer.emmeans(fit(c["model"]), a["specs"], contrasts=a.get("contrasts"), at=a.get("at"),
                         type=a.get("type", "link"), adjust=a.get("adjust"), ddf=a.get("ddf"),
                         level=a.get("level", 0.95))


def _num(v):
    return np.array([np.inf if x is None else x for x in v], dtype=float)


def _p_tol(c):
    adj = c["args"].get("adjust")
    con = c["args"].get("contrasts")
    if adj == "mvt" or (adj is None and con == "consec"):
        return 2e-3
    if adj is None and con == "trt.vs.ctrl":
        return 0.012
    return 1e-5 if c["model"].startswith("cake") else 1e-4


def _rtol(c):
    # GLMMs: pymer's and lme4's optima differ at ~1e-4 relative in the fixed effects
    # (optimizer tolerances; emmeans prints 3 significant digits)
    return 1e-5 if c["model"].startswith("cake") else 3e-4


def _compare_frame(got: pd.DataFrame, exp: dict, c, what):
    assert list(got.columns) == list(exp), what
    se = _num(exp["SE"])
    rtol = _rtol(c)
    for col, ev in exp.items():
        if isinstance(ev[0], str):
            assert list(got[col]) == list(ev), (what, col)
            continue
        e, g = _num(ev), got[col].to_numpy(dtype=float)
        if col == "df":
            np.testing.assert_allclose(g, e, rtol=1e-3, err_msg=f"{what} {col}")
        elif col == "p.value":
            np.testing.assert_allclose(g, e, atol=_p_tol(c), rtol=0, err_msg=f"{what} {col}")
        elif col in ("t.ratio", "z.ratio"):     # a ratio of a zero contrast is rounding noise
            np.testing.assert_allclose(g, e, rtol=rtol, atol=1e-10, err_msg=f"{what} {col}")
        elif col in ("SE", "null"):
            np.testing.assert_allclose(g, e, rtol=rtol, err_msg=f"{what} {col}")
        else:   # estimates and limits: relative, or relative to the SE near zero
            np.testing.assert_allclose(g, e, rtol=rtol, atol=rtol * se.max(), err_msg=f"{what} {col}")


EMM_IDS = [i for i, c in CASES.items() if c["kind"] == "emmeans"]
GLHT_IDS = [i for i, c in CASES.items() if c["kind"] == "glht"]


@pytest.mark.parametrize("case_id", EMM_IDS)
def test_emmeans_matches_r(case_id):
    c = CASES[case_id]
    r = _run_emmeans(c)
    _compare_frame(r.emmeans, c["emmeans"], c, "emmeans")
    if "contrasts" in c:
        _compare_frame(r.contrasts, c["contrasts"], c, "contrasts")
    else:
        assert r.contrasts is None


# cases whose printed numbers differ from R's in a last digit: randomized ("mvt") or
# approximated ("dunnettx") p-values, and GLMM optima ~1e-4 apart
LAST_DIGIT = {"cake_temp_satt", "cake_add_trt", "cake_add_consec", "cake_add_mvt", "cbpp_offset_response",
              "cbpp_link", "cbpp_response", "grouse_response", "grouse_at", "grouse_nb_response"}


def _tokens_close(a: str, b: str) -> bool:
    ta, tb = a.split(), b.split()
    if len(ta) != len(tb):
        return False
    for x, y in zip(ta, tb):
        if x == y:
            continue
        try:
            fx, fy = float(x), float(y)
        except ValueError:
            return False
        if abs(fx - fy) > max(0.012, 2e-3 * abs(fy)):
            return False
    return True


@pytest.mark.parametrize("case_id", EMM_IDS)
def test_emmeans_printed_as_r(case_id):
    """The printed form is emmeans' line for line: identical where the numbers agree to
    the printed digits, else the same lines with numbers within R's precision."""
    c = CASES[case_id]
    got = [ln for ln in str(_run_emmeans(c)).split("\n") if ln.strip()]
    want = [ln.rstrip() for ln in c["printed"]]
    if "printed_contrasts" in c:
        want = ["$emmeans"] + want + ["$contrasts"] + [ln.rstrip() for ln in c["printed_contrasts"]]
    want = [ln for ln in want if ln.strip()]
    if case_id in LAST_DIGIT:
        assert len(got) == len(want)
        assert all(_tokens_close(a, b) for a, b in zip(got, want)), "\n".join(got)
    else:
        assert got == want


@pytest.mark.parametrize("case_id", GLHT_IDS)
def test_glht_matches_multcomp(case_id):
    c = CASES[case_id]
    a = c["args"]
    m = fit(c["model"])
    if "mcp" in a:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g = pymer.glht(m, mcp=a["mcp"], alternative=a.get("alternative", "two.sided"))
    else:
        lf = a["linfct"]
        K = pd.DataFrame([list(v) for v in lf["values"]], index=lf["rownames"], columns=lf["columns"])
        g = pymer.glht(m, K, rhs=a.get("rhs", 0))
    assert list(g.linfct.index) == c["names"]
    assert c["df"] == 0 and not np.isfinite(g.df)        # multcomp: normal for merMod fits
    rtol = _rtol(c)
    np.testing.assert_allclose(g.estimate, c["estimate"], rtol=rtol)
    np.testing.assert_allclose(g.se, c["se"], rtol=rtol)
    np.testing.assert_allclose(g.statistic, c["statistic"], rtol=rtol)
    s = g.summary()
    np.testing.assert_allclose(s.pvalues, c["p_single_step_precise"], atol=2e-3)
    np.testing.assert_allclose(s.pvalues, c["p_single_step"], atol=0.012)   # multcomp's default precision
    np.testing.assert_allclose(g.pvalues("univariate"), c["p_univariate"], rtol=10 * rtol, atol=1e-12)
    for test, p in c["p_adjusted"].items():
        np.testing.assert_allclose(g.pvalues(test), p, rtol=10 * rtol, atol=1e-12, err_msg=test)
    ci = g.confint()
    assert abs(ci.attrs["quantile"] - abs(c["quantile"])) < 2e-3
    se = np.asarray(c["se"])
    np.testing.assert_allclose(ci["lwr"], _num(c["lwr"]) if None not in c["lwr"] else -np.inf,
                               atol=2e-3 * se.max())
    upr = np.array([np.inf if x is None else x for x in c["upr"]], dtype=float)
    np.testing.assert_allclose(ci["upr"], upr, atol=2e-3 * se.max())
    tidy = g.tidy()
    assert list(tidy.columns) == list(c["tidy"])
    assert list(tidy["contrast"]) == c["tidy"]["contrast"]
    np.testing.assert_allclose(tidy["estimate"], c["tidy"]["estimate"], rtol=rtol)
    np.testing.assert_allclose(tidy["null.value"], c["tidy"]["null.value"])
    np.testing.assert_allclose(tidy["adj.p.value"], c["tidy"]["adj.p.value"], atol=2e-3)
    # printed: the same title, kind, heading and footer lines as multcomp (the Fit line
    # names pymer's call)
    text = str(s).split("\n")
    keep = lambda lines: [ln.rstrip() for ln in lines
                          if ln.strip() and not ln.startswith(("Fit:", "    data"))][:4]
    assert keep(text)[:2] == keep(c["printed"])[:2]
    assert "Linear Hypotheses:" in text
    assert text[-1] == c["printed"][-2]
    hdr = text[text.index("Linear Hypotheses:") + 1].split()
    assert hdr == c["printed"][c["printed"].index("Linear Hypotheses:") + 1].split()
    rows = text[text.index("Linear Hypotheses:") + 2:text.index("Linear Hypotheses:") + 2 + len(c["names"])]
    assert [r.split(" == ")[0].split(" <= ")[0] for r in rows] == c["names"]
    # the hypotheses table as multcomp prints it, numbers within R's precision
    norm = lambda ln: ln.replace("< ", "<")
    got_t = text[text.index("Linear Hypotheses:"):]
    want_t = [ln for ln in c["printed"][c["printed"].index("Linear Hypotheses:"):] if ln.strip()]
    assert len(got_t) == len(want_t)
    for a, b in zip(got_t, want_t):
        assert _tokens_close(norm(a), norm(b)), (a, b)
    # confint's print: the same lines after the Fit line, numbers within R's precision
    got = g.print_confint().split("\n")
    want = c["printed_confint"]
    tail = lambda lines: [ln.rstrip() for ln in lines[next(i for i, x in enumerate(lines) if x.startswith("Quantile")):]
                          if ln.strip()]
    assert len(tail(got)) == len(tail(want))
    for a, b in zip(tail(got), tail(want)):
        if a.startswith("Quantile"):
            assert abs(float(a.split("=")[1]) - abs(float(b.split("=")[1]))) < 2e-3
        else:
            assert _tokens_close(a, b), (a, b)


# ------------------------------------------------------------------ adjustments -------

def test_tukey_equals_single_step_mvt_for_pairwise():
    """Pairwise comparisons of independent equal-variance means: Tukey's studentized
    range and the single-step maximum of the multivariate t are the same distribution."""
    k = 3
    C = np.array([np.eye(k)[i] - np.eye(k)[j] for i in range(k) for j in range(i + 1, k)])
    V = C @ C.T
    R = V / np.sqrt(np.outer(np.diag(V), np.diag(V)))
    t = np.array([0.5, 2.5, -2.2])
    for df in (12.0, np.inf):
        pt = adjust.adjust_family(t, df, "tukey", nmeans=k)
        pm = adjust.adjust_family(t, df, "mvt", R=R)
        np.testing.assert_allclose(pm, pt, atol=1e-3)


def test_dunnettx_is_dunnett_equicorrelated():
    """The equicorrelated (1/2) probability by quadrature equals the multivariate normal's."""
    R = np.full((3, 3), 0.5) + 0.5 * np.eye(3)
    t = np.array([1.0, 2.0, 2.8])
    np.testing.assert_allclose(adjust.adjust_family(t, np.inf, "dunnettx"),
                               adjust.single_step(t, R), atol=5e-4)


def test_p_adjust_methods():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # R: p.adjust(c(.01,.04,.03,.005), m) for holm, hochberg, bonferroni, BH, BY
    np.testing.assert_allclose(adjust.p_adjust(p, "holm"), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(adjust.p_adjust(p, "hochberg"), [0.03, 0.04, 0.04, 0.02])
    np.testing.assert_allclose(adjust.p_adjust(p, "bonferroni"), [0.04, 0.16, 0.12, 0.02])
    np.testing.assert_allclose(adjust.p_adjust(p, "BH"), [0.02, 0.04, 0.04, 0.02])
    np.testing.assert_allclose(adjust.p_adjust(p, "BY"), np.array([0.02, 0.04, 0.04, 0.02]) * (1 + 1 / 2 + 1 / 3 + 1 / 4))
    with pytest.raises(ValueError, match="adjust='nope'"):
        adjust.check_method("nope")


def test_glht_one_sided_and_holm_orders():
    m = fit("cake_add")
    two = pymer.glht(m, mcp={"recipe": "Dunnett"})
    less = pymer.glht(m, mcp={"recipe": "Dunnett"}, alternative="less")
    # negative estimates: the one-sided 'less' p-values are below the two-sided ones
    assert np.all(less.summary().pvalues < two.summary().pvalues)
    assert np.all(np.isinf(less.confint()["lwr"]))
    p = two.pvalues("holm")
    assert np.all(p >= two.pvalues("univariate"))


# ------------------------------------------------------------------ bad input -----------

def test_emmeans_bad_input_names_the_culprit():
    d = pymer.datasets.load("cake")
    m = pymer.lmer("angle ~ recipe * temp + (1 | recipe:replicate)", d)
    raises_naming(d, lambda d: pymer.emmeans(m, "recipie"), ValueError, ["'recipie'", "recipe, temp"])
    raises_naming(d, lambda d: pymer.emmeans(m, "temp"), ValueError, ["'temp'", "numeric", "at="])
    raises_naming(d, lambda d: pymer.emmeans(m, "recipe", at={"tmp": 3}), pymer.PymerDataError, ["'tmp'"])
    raises_naming(d, lambda d: pymer.emmeans(m, "recipe", at={"recipe": ["Z"]}), pymer.PymerDataError,
                  ["'Z'", "recipe"])
    raises_naming(d, lambda d: pymer.emmeans(m, "recipe", at={"temp": "hot"}), pymer.PymerDataError,
                  ["'temp'", "numbers"])
    raises_naming(d, lambda d: pymer.emmeans(m, "recipe", contrasts={"x": [1, -1]}), ValueError,
                  ["'x'", "3 finite weights", "A, B, C"])
    raises_naming(d, lambda d: pymer.emmeans(m, "recipe", contrasts="allpairs"), ValueError,
                  ["'allpairs'", "pairwise"])
    raises_naming(d, lambda d: pymer.emmeans(m, "recipe", contrasts="pairwise", adjust="tukeyy"),
                  ValueError, ["'tukeyy'"])
    raises_naming(d, lambda d: pymer.emmeans(m, "recipe", ddf="exact"), ValueError, ["'exact'"])
    raises_naming(d, lambda d: pymer.emmeans(m, "recipe", type="prob"), ValueError, ["'prob'"])
    raises_naming(d, lambda d: pymer.emmeans(m, "recipe", level=1.5), ValueError, ["level"])
    raises_naming(d, lambda d: pymer.emmeans(m, "pairwise ~ recipe"), ValueError, ["contrasts="])


def test_emmeans_leaves_data_unchanged_and_zero_weights_fail():
    d = pymer.datasets.load("cake")
    before = d.copy()
    m = pymer.lmer("angle ~ recipe * temperature + (1 | recipe:replicate)", d)
    r = pymer.emmeans(m, "recipe | temperature", contrasts="pairwise")
    pd.testing.assert_frame_equal(d, before)
    assert r.emmeans.notna().all().all() and r.contrasts.notna().all().all()
    raises_naming(d, lambda d: pymer.emmeans(m, "recipe", contrasts={"none": [0, 0, 0]}), ValueError,
                  ["'none'", "zero"])


def test_emmeans_glmm_rejects_ddf():
    with pytest.raises(ValueError, match="asymptotic"):
        pymer.emmeans(fit("cbpp"), "period", ddf="Kenward-Roger")


def test_glht_bad_input_names_the_culprit():
    d = pymer.datasets.load("cake")
    m = pymer.lmer("angle ~ recipe + temperature + (1 | recipe:replicate)", d)
    raises_naming(d, lambda d: pymer.glht(m, mcp={"recipie": "Tukey"}), ValueError, ["'recipie'", "recipe"])
    raises_naming(d, lambda d: pymer.glht(m, mcp={"recipe": "Williams"}), ValueError, ["'Williams'"])
    bad = pd.DataFrame([[1.0, -1.0]], columns=["recipeB", "recipeX"], index=["B - X"])
    raises_naming(d, lambda d: pymer.glht(m, bad), ValueError, ["'recipeX'", "recipeB"])
    raises_naming(d, lambda d: pymer.glht(m, np.ones((1, 3))), ValueError, ["3 columns", "8 fixed"])
    raises_naming(d, lambda d: pymer.glht(m, np.zeros((1, 8))), ValueError, ["row of zeros"])
    raises_naming(d, lambda d: pymer.glht(m, np.eye(8)[:2], rhs=[1, 2, 3]), ValueError, ["rhs", "2 hypotheses"])
    raises_naming(d, lambda d: pymer.glht(m, np.eye(8)[:2], alternative="bigger"), ValueError, ["'bigger'"])
    raises_naming(d, lambda d: pymer.glht(m), ValueError, ["mcp"])
    raises_naming(d, lambda d: pymer.glht(m, mcp={"recipe": "Tukey"}).summary(test="Westfal"),
                  ValueError, ["'Westfal'"])


def test_mcp_in_interaction_warns():
    with pytest.warns(UserWarning, match="'recipe' is in interactions"):
        pymer.glht(fit("cake_temp"), mcp={"recipe": "Tukey"})
