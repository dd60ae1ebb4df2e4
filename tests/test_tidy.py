"""tidy()/glance() against broom.mixed's tables, and the HTML renderings for notebooks.

The reference tables in tests/data/broom_mixed.json are broom.mixed 0.2.9.4's
output on lme4 1.1-31 fits (tests/data/broom_mixed.R makes them).
"""
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import pymer
from pymer.report.summary import Summary

REF = json.loads((Path(__file__).parent / "data" / "broom_mixed.json").read_text())


@pytest.fixture(scope="module")
def sleep():
    return pymer.lmer("Reaction ~ Days + (Days | Subject)", pymer.datasets.load("sleepstudy"))


@pytest.fixture(scope="module")
def penicillin():
    return pymer.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", pymer.datasets.load("Penicillin"))


def ref(name):
    return pd.DataFrame(REF[name])


def check_table(got, want, rtol=2e-5, atol=1e-8):
    """Same columns in the same order, same labels, numbers equal within tolerance."""
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    for c in want.columns:
        w = want[c]
        if c in ("effect", "group", "level", "term"):
            g = [None if pd.isna(v) else v for v in got[c]]
            assert g == [None if pd.isna(v) else v for v in w], c
        else:
            np.testing.assert_allclose(got[c].to_numpy(dtype=float), w.to_numpy(dtype=float),
                                       rtol=rtol, atol=atol, equal_nan=True, err_msg=c)


def test_tidy_default_matches_broom(sleep):
    check_table(sleep.tidy(), ref("sleep_default"))


def test_tidy_fixed_conf_int_level(sleep):
    got = sleep.tidy("fixed", conf_int=True, conf_level=0.9)
    check_table(got, ref("sleep_fixed_ci90"))
    assert "group" not in got.columns          # broom.mixed drops it for fixed-only tables


def test_tidy_ran_vals_with_condvar_intervals(sleep):
    got = sleep.tidy("ran_vals", conf_int=True)
    check_table(got, ref("sleep_ranvals"), rtol=1e-4, atol=1e-5)
    # the SDs are the conditional variances' square roots
    cv = sleep.condvar()["Subject"]
    np.testing.assert_allclose(got["std.error"][:18], np.sqrt(cv[:, 0, 0]))
    np.testing.assert_allclose(got["std.error"][18:], np.sqrt(cv[:, 1, 1]))


def test_tidy_ran_pars_vcov_scale_and_ran_coefs(sleep):
    check_table(sleep.tidy("ran_pars", scales="vcov"), ref("sleep_vcov"))
    check_table(sleep.tidy("ran_coefs"), ref("sleep_coefs"), rtol=1e-6)


def test_glance_reml_and_ml(sleep):
    check_table(sleep.glance(), ref("sleep_glance"))
    check_table(sleep.update(REML=False).glance(), ref("sleep_ml_glance"))


def test_crossed_nested_and_uncorrelated_terms(penicillin):
    check_table(penicillin.tidy(), ref("pen_default"), rtol=1e-4)
    check_table(penicillin.tidy("ran_vals"), ref("pen_ranvals"), rtol=1e-4, atol=1e-5)
    check_table(penicillin.glance(), ref("pen_glance"), rtol=1e-6)
    pastes = pymer.lmer("strength ~ 1 + (1 | batch/cask)", pymer.datasets.load("Pastes"))
    check_table(pastes.tidy(), ref("pastes"), rtol=1e-4)
    uncorr = pymer.lmer("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)",
                        pymer.datasets.load("sleepstudy"))
    check_table(uncorr.tidy(), ref("uncorr"), rtol=1e-4)      # groups "Subject", "Subject.1"


def test_three_by_three_term_order():
    # broom.mixed: per group, sd of each term followed by its correlations with later terms
    d = pymer.datasets.load("robinson_sites")
    d["x2"] = d["x"] ** 2 / 10
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = pymer.lmer("y ~ x + (x + x2 | site)", d)
    terms = m.tidy("ran_pars")["term"].tolist()
    assert terms == ["sd__(Intercept)", "cor__(Intercept).x", "cor__(Intercept).x2", "sd__x",
                     "cor__x.x2", "sd__x2", "sd__Observation"]


def test_tidy_argument_checks(sleep):
    with pytest.raises(ValueError, match="effects"):
        sleep.tidy("random")
    with pytest.raises(ValueError, match="conf_level"):
        sleep.tidy(conf_int=True, conf_level=95)
    with pytest.raises(ValueError, match="scales"):
        sleep.tidy("ran_pars", scales="sd")


@pytest.mark.skipif(not hasattr(pymer, "glmer"), reason="glmer not available yet")
def test_tidy_glmm_has_wald_z_tests_and_no_residual():
    g = pymer.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                    pymer.datasets.load("cbpp"), family="binomial")
    t = g.tidy(conf_int=True)
    assert list(t.columns) == ["effect", "group", "term", "estimate", "std.error", "statistic",
                               "p.value", "conf.low", "conf.high"]
    assert t["term"].tolist() == ["(Intercept)", "period2", "period3", "period4", "sd__(Intercept)"]
    fx = t[t["effect"] == "fixed"]
    se = np.sqrt(np.diag(g.vcov))
    np.testing.assert_allclose(fx["estimate"], g.fixef.to_numpy())
    np.testing.assert_allclose(fx["std.error"], se)
    np.testing.assert_allclose(fx["p.value"], 2 * stats.norm.sf(np.abs(fx["estimate"] / se)))
    np.testing.assert_allclose(fx["conf.high"] - fx["conf.low"], 2 * stats.norm.ppf(0.975) * se)
    np.testing.assert_allclose(t["estimate"].iloc[-1], np.sqrt(g.varcorr["vcov"].iloc[0]))
    gl = g.glance()
    assert list(gl.columns) == ["nobs", "sigma", "logLik", "AIC", "BIC", "deviance", "df.residual"]
    assert gl["sigma"][0] == 1.0 and gl["nobs"][0] == 56 and gl["df.residual"][0] == 51
    rv = g.tidy("ran_vals")
    assert len(rv) == 15 and rv["std.error"].gt(0).all()


# ---- HTML for notebooks ------------------------------------------------------------------

class _Tables(HTMLParser):
    """Collects tables (caption -> rows of cell texts) and checks tags are balanced."""

    VOID = {"br", "hr", "img", "meta", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.tables, self.pres, self.cur, self.cell = [], {}, [], None, None
        self.caption = None

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)
        if tag == "table":
            self.cur = []
            self.caption = None
        elif tag == "tr":
            self.cur.append([])
        elif tag in ("td", "th"):
            self.cell = ""
        elif tag == "caption":
            self.caption = ""

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
        self.stack.pop()
        if tag in ("td", "th"):
            self.cur[-1].append(self.cell)
            self.cell = None
        elif tag == "table":
            self.tables[self.caption] = self.cur

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data
        elif self.caption is not None and self.stack and self.stack[-1] == "caption":
            self.caption += data
        elif self.stack and self.stack[-1] == "pre":
            self.pres.append(data)


def parse(html):
    p = _Tables()
    p.feed(html)
    p.close()
    assert p.stack == []
    return p


def test_summary_html_tables(sleep):
    p = parse(sleep.summary()._repr_html_())
    assert set(p.tables) >= {"Scaled residuals", "Random effects", "Fixed effects",
                             "Correlation of fixed effects"}
    re = p.tables["Random effects"]
    assert re[0] == ["Groups", "Name", "Variance", "Std.Dev.", "Corr"]
    assert re[1] == ["Subject", "(Intercept)", "612.10", "24.741", ""]
    assert re[2] == ["", "Days", "35.07", "5.922", "0.07"]
    assert re[3][:4] == ["Residual", "", "654.94", "25.592"]
    fe = p.tables["Fixed effects"]
    assert fe[0] == ["", "Estimate", "Std. Error", "t value"]
    assert fe[1] == ["(Intercept)", "251.405", "6.825", "36.838"]
    assert p.tables["Correlation of fixed effects"][1] == ["Days", "-0.138"]
    assert p.tables["Scaled residuals"][1][0] == "-3.9536"
    assert p.pres == []                               # nothing left as preformatted text


def test_model_html_and_plain_text(sleep):
    html = sleep._repr_html_()
    p = parse(html)
    assert "Data: sleepstudy" in html and "REML criterion at convergence: 1743.628" in html
    assert p.tables["Random effects"][0] == ["Groups", "Name", "Std.Dev.", "Corr"]
    assert p.tables["Fixed effects"] == [["(Intercept)", "Days"], ["251.41", "10.47"]]
    assert repr(sleep).startswith("Linear mixed model fit by REML")      # plain text elsewhere
    assert str(sleep.summary()).startswith("Linear mixed model fit by REML")


def test_summary_html_without_result_falls_back_to_text(sleep):
    s = sleep.summary()
    bare = Summary(s.text, s.coefficients)
    p = parse(bare._repr_html_())
    assert "Fixed effects" in p.tables                 # from the coefficient table
    assert "Random effects" not in p.tables
    assert any("Random effects:" in t for t in p.pres)


def test_ml_summary_html_has_statistics_row(sleep):
    s = sleep.update(REML=False).summary()
    p = parse(s._repr_html_())
    rows = [t for t in p.tables.values() if t[0][:2] == ["AIC", "BIC"]]
    assert rows and rows[0][0] == ["AIC", "BIC", "logLik", "deviance", "df.resid"]
    text_values = s.text.split("\n")[5].split()            # the text summary's row
    assert rows[0][1] == text_values and float(rows[0][1][0]) == pytest.approx(1763.94, abs=0.06)


def test_tidy_with_satterthwaite_ddf_matches_lmertest(sleep):
    try:
        got = sleep.tidy(conf_int=True, ddf="Satterthwaite")
    except ValueError as e:                     # an installation without pymer.inference
        pytest.skip(str(e))
    check_table(got, ref("sleep_lmertest"), rtol=1e-6)
