"""predict_response, predict_se, augment and the plot against ggeffects 1.2.0 and
broom.mixed (tests/reference/predictions.json)."""
import warnings

import numpy as np
import pandas as pd
import pytest

import pymer
from pymer.errors import MissingColumnError, PymerDataError
from conftest import load_reference, raises_naming

REF = load_reference("predictions.json")
ld = pymer.datasets.load
FITS = {
    "sleepstudy_lmer": lambda: pymer.lmer("Reaction ~ Days + (Days | Subject)", ld("sleepstudy")),
    "sites_lmer": lambda: pymer.lmer("y ~ x + (1 | site)", ld("robinson_sites"), REML=False),
    "batmass_lmer": lambda: pymer.lmer("mass ~ species * forest + (1 | sites)", ld("batMass")),
    "cbpp_glmer": lambda: pymer.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                                      ld("cbpp"), family="binomial"),
    "grouse_glmer": lambda: pymer.glmer("TICKS ~ YEAR + HEIGHT + (1 | BROOD)", ld("grouseticks"),
                                        family="poisson"),
    "sites_nb": lambda: pymer.glmer_nb("y ~ x + (1 | site)", ld("robinson_sites_counts")),
    "grouse_nb": lambda: pymer.glmer_nb("TICKS ~ YEAR + scale(HEIGHT) + (1 | LOCATION)", ld("grouseticks")),
    "sleepstudy_lm": lambda: pymer.lm("Reaction ~ Days", ld("sleepstudy")),
    "cake_lm": lambda: pymer.lm("angle ~ recipe * temp + replicate", ld("cake")),
    "cbpp_glm": lambda: pymer.glm("cbind(incidence, size - incidence) ~ period", ld("cbpp"),
                                  family="binomial"),
}
_cache = {}


def fit(mid, lme4_estimates=False):
    key = (mid, lme4_estimates)
    if key not in _cache:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = FITS[mid]()
        if lme4_estimates:
            # lme4's fixef and vcov in place of pymer's, to test the predictions alone
            # (lme4 stops short of pymer's optimum for grouseticks and the NB fit)
            e = REF["models"][mid]
            m.__dict__["fixef"] = pd.Series(e["coef"], index=e["coef_names"])
            m.__dict__["vcov"] = pd.DataFrame(e["vcov"], index=e["coef_names"], columns=e["coef_names"])
        _cache[key] = m
    return _cache[key]


def _predict(m, c):
    return pymer.predict_response(m, c["terms"],
                                  margin="marginalmeans" if c["fun"] == "ggemmeans" else "mean_reference",
                                  type="random" if c["type"] == "re" else "fixed")


def _compare(r, t, rtol):
    assert len(r) == len(t["predicted"])
    for col in ("predicted", "std.error", "conf.low", "conf.high"):
        np.testing.assert_allclose(r[col].to_numpy(float), t[col], rtol=rtol, err_msg=col)
    assert [f"{v:g}" if isinstance(v, float) else str(v) for v in r["x"]] == t["x"]
    assert [str(g) for g in r["group"]] == t["group"]
    if "facet" in t:
        assert [str(g) for g in r["facet"]] == t["facet"]


@pytest.mark.parametrize("case", list(REF["cases"]))
def test_equals_ggeffects_at_lme4_estimates(case):
    c = REF["cases"][case]
    mixed = not c["model"].endswith(("_lm", "_glm"))
    _compare(_predict(fit(c["model"], lme4_estimates=mixed), c), c["table"], rtol=1e-6)


# with pymer's own estimates; not where lme4's estimates are off: cbpp (lme4's default
# tolPwrss leaves its vcov 1% off, see test_glmm_reference.py), grouse_glmer (lme4: "failed to
# converge", "very large eigenvalue") and sites_nb (lme4 stops at a singular fit)
OWN_FIT = {"sleepstudy_lmer", "sites_lmer", "batmass_lmer", "grouse_nb", "sleepstudy_lm", "cake_lm",
           "cbpp_glm"}


@pytest.mark.parametrize("case", [k for k, c in REF["cases"].items() if c["model"] in OWN_FIT])
def test_equals_ggeffects_to_3_digits_with_pymers_fit(case):
    c = REF["cases"][case]
    _compare(_predict(fit(c["model"]), c), c["table"], rtol=1e-3)


def test_fixed_fit_method_delegates():
    m = fit("sleepstudy_lm")
    pd.testing.assert_frame_equal(pd.DataFrame(m.predict_response("Days [1, 2]")),
                                  pd.DataFrame(pymer.predict_response(m, "Days [1, 2]")))


def test_level_subset_and_empirical():
    m = fit("cbpp_glmer")
    full = pymer.predict_response(m, "period")
    sub = pymer.predict_response(m, "period [1, 3]")
    np.testing.assert_allclose(sub["predicted"], full["predicted"].to_numpy()[[0, 2]])
    assert list(sub["x"].astype(str)) == ["1", "3"]
    # empirical: the average over the data of the response-scale predictions
    emp = pymer.predict_response(m, "period", margin="empirical")
    np.testing.assert_allclose(emp["predicted"], full["predicted"], rtol=1e-12)
    s = fit("sleepstudy_lmer")
    e2 = pymer.predict_response(s, "Days [0, 5]", margin="empirical")
    r2 = pymer.predict_response(s, "Days [0, 5]")
    np.testing.assert_allclose(e2["predicted"], r2["predicted"], rtol=1e-12)
    np.testing.assert_allclose(e2["std.error"], r2["std.error"], rtol=1e-6)


def test_bad_terms_name_the_culprit():
    m = fit("batmass_lmer")
    d = m.model.call.data
    f = lambda terms, **kw: (lambda _: pymer.predict_response(m, terms, **kw))
    raises_naming(d, f("forst"), PymerDataError, ["forst"])
    raises_naming(d, f("forest [1, 2"), ValueError, ["forest [1, 2", "bracket"])
    raises_naming(d, f("forest [a, b]"), PymerDataError, ["forest", "numbers"])
    raises_naming(d, f("species [Spp9]"), PymerDataError, ["Spp9"])
    raises_naming(d, f(["forest", "species", "sites", "mass"]), ValueError, ["three"])
    raises_naming(d, f("sites"), PymerDataError, ["sites", "fixed part"])
    raises_naming(d, f("forest", margin="average"), ValueError, ["margin"])


def test_predict_se_nan_rows_intervals_and_missing_column():
    m = fit("sleepstudy_lmer")
    d = ld("sleepstudy").head(4).copy()
    d.loc[1, "Days"] = np.nan
    before = d.copy()
    p = pymer.predict_se(m, d, interval="prediction")
    pd.testing.assert_frame_equal(d, before)
    assert p.iloc[1].isna().all() and p.drop(index=1).notna().all().all()
    np.testing.assert_allclose(p["fit"].drop(index=1), m.predict(d.drop(index=1)))
    c = pymer.predict_se(m, d, re_form="~0")
    t = REF["cases"]["sleepstudy_days"]["table"]
    np.testing.assert_allclose(c["se_fit"].to_numpy()[[0, 2, 3]], np.array(t["std.error"])[[0, 2, 3]], rtol=1e-3)
    assert (p["upr"] - p["lwr"]).min() > (c["upr"] - c["lwr"]).max()     # prediction > confidence
    raises_naming(d.drop(columns="Days"), lambda x: pymer.predict_se(m, x), MissingColumnError, ["Days"])
    g = fit("cbpp_glmer")
    r = pymer.predict_se(g, ld("cbpp").head(3), type="response")
    assert ((r["fit"] > 0) & (r["fit"] < 1)).all() and (r["lwr"] < r["fit"]).all()
    with pytest.raises(ValueError, match="prediction"):
        pymer.predict_se(g, ld("cbpp").head(3), interval="prediction")


def test_augment_matches_broom_mixed():
    m = fit("sleepstudy_lmer")
    a = pymer.augment(m)
    assert list(a.columns) == REF["augment"]["columns"]
    for col, v in REF["augment"]["head"].items():
        np.testing.assert_allclose(a[col].to_numpy()[:5], v, rtol=1e-6, atol=1e-8, err_msg=col)
    with pytest.raises(TypeError, match="lmer"):
        pymer.augment(fit("cbpp_glmer"))


def test_plot_content():
    pytest.importorskip("matplotlib")
    m = fit("batmass_lmer")
    p = pymer.predict_response(m, ["forest [0, 20, 40]", "species"])
    fig = p.plot(partial_residuals=True)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "forest" and ax.get_ylabel() == "mass"
    assert len([ln for ln in ax.lines if ln.get_linestyle() == "-"]) == 3      # one line per species
    pts = [ln for ln in ax.lines if ln.get_marker() == "o"]
    assert sum(len(ln.get_xdata()) for ln in pts) == m.nobs                    # partial residuals
    assert len(ax.collections) == 3                                              # ribbons
    cake = pymer.predict_response(fit("cake_lm"), ["temp [175, 225]", "recipe", "replicate [1, 2]"])
    assert len(cake.plot().axes) == 2                                            # one panel per facet
    fac = pymer.predict_response(fit("cbpp_glmer"), "period").plot()
    assert [t.get_text() for t in fac.axes[0].get_xticklabels()] == ["1", "2", "3", "4"]


@pytest.mark.parametrize("name", list(REF["pretty_range"]))
def test_default_x_values_are_ggeffects_pretty_range(name):
    from pymer.predictions.grid import pretty_values
    e = REF["pretty_range"][name]
    np.testing.assert_allclose(pretty_values(np.asarray(e["x"], dtype=float)), e["values"], atol=1e-12)
