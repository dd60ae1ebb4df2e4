"""lm, glm, lmList and anova(lmer, lm) against R (tests/reference/fixed.json)."""
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import pymer
from pymer.errors import FormulaError, MissingColumnError, PymerDataError
from conftest import DATA, load_reference, raises_naming

REF = load_reference("fixed.json")
PREPS = {"sleepstudy_weights": lambda d: d.assign(w=1 + d.Days % 3),
         "sleepstudy_rankdef": lambda d: d.assign(Days2=2 * d.Days)}
FAMILIES = {"binomial": pymer.families.Binomial, "poisson": pymer.families.Poisson,
            "Gamma": pymer.families.Gamma}
# pymer._rformat.format_real puts the minus sign into the common width of fixed notation
# where R counts it per element, so R prints grouseticks' coefficients fixed and pymer
# scientific (reported to the lead; the numbers are tested below)
def _data(name, key):
    try:
        d = pymer.datasets.load(name)
    except Exception:
        d = pd.read_csv(DATA / f"{name}.csv")
        d.attrs["name"] = "d"
    if key in PREPS:
        attrs = d.attrs
        d = PREPS[key](d)
        d.attrs = attrs
    return d


def _fit(kind, key):
    e = REF[kind][key]
    call = e["call"]
    formula = re.search(r"\((.*?~.*?), (data|family)", call).group(1)
    kw = {}
    fm = re.search(r'family = (\w+)(\(link = "(\w+)"\))?', call)
    if fm:
        fam = FAMILIES[fm.group(1)]
        kw["family"] = fam(link=fm.group(3)) if fm.group(3) else fam()
    wm = re.search(r"weights = (\w+)", call)
    if wm:
        kw["weights"] = wm.group(1)
    fun = pymer.lm if kind == "lm" else pymer.glm
    return fun(formula, _data(e["data"], key), **kw), e


_fits = {}


def fitted(kind, key):
    if (kind, key) not in _fits:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _fits[kind, key] = _fit(kind, key)
    return _fits[kind, key]


CASES = [("lm", k) for k in REF["lm"]] + [("glm", k) for k in REF["glm"]]


def close(a, b, rtol=1e-7, atol=1e-9):
    a = np.asarray(a, dtype=float)
    b = np.asarray([np.nan if v is None else v for v in np.ravel(b)], dtype=float).reshape(a.shape)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


@pytest.mark.parametrize("kind,key", CASES)
def test_estimates_and_likelihood(kind, key):
    r, e = fitted(kind, key)
    assert list(r.coef.index) == e["coef_names"]
    close(r.coef.values, e["coef"])
    V = np.array([[np.nan if v is None else v for v in row] for row in e["vcov"]], dtype=float)
    est = ~np.isnan(np.diag(V))                # R's vcov has NA rows for aliased columns
    close(r.vcov.values, V[np.ix_(est, est)])
    close(r.sigma, e["sigma"])
    close(r.fitted, e["fitted"])
    for t in ("response", "pearson", "deviance", "working"):
        close(r.residuals(t), e["residuals"][t], atol=1e-8)
    for name, val in (("loglik", r.loglik), ("AIC", r.aic), ("BIC", r.bic), ("deviance", r.deviance)):
        close(val, e[name], rtol=1e-9)
    assert (r.df, r.df_residual, r.nobs) == (e["df"], e["df_residual"], e["nobs"])
    if kind == "glm":
        close(r.null_deviance, e["null_deviance"], rtol=1e-9)
        close(r.dispersion, e["dispersion"], rtol=1e-7)
        assert (r.df_null, r.iter, r.converged) == (e["df_null"], e["iter"], e["converged"])
    else:
        close(r.r_squared, e["r_squared"])
        close(r.adj_r_squared, e["adj_r_squared"])
        close(r.fstatistic, e["fstatistic"])


@pytest.mark.parametrize("kind,key", CASES)
def test_predict_new_data(kind, key):
    r, e = fitted(kind, key)
    nd = _data(e["data"], key).head(6)
    p = e["predict"]
    if kind == "lm":
        c = r.predict(nd, se_fit=True, interval="confidence")
        close(c["fit"], p["fit"])
        close(c["se_fit"], p["se_fit"])
        close(c["lwr"], p["conf_lwr"])
        close(c["upr"], p["conf_upr"])
        pi = r.predict(nd, interval="prediction")
        close(pi["lwr"], p["pred_lwr"])
        close(pi["upr"], p["pred_upr"])
    else:
        lk = r.predict(nd, type="link", se_fit=True)
        close(lk["fit"], p["link"])
        close(lk["se_fit"], p["link_se"])
        rs = r.predict(nd, type="response", se_fit=True)
        close(rs["fit"], p["response"])
        close(rs["se_fit"], p["response_se"])


@pytest.mark.parametrize("kind,key", CASES)
def test_summary_text(kind, key):
    r, e = fitted(kind, key)
    assert str(r.summary()).split("\n") == e["summary"]


def test_predict_nan_rows_and_missing_column():
    d = pymer.datasets.load("sleepstudy")
    r = pymer.lm("Reaction ~ Days", d)
    nd = d.head(3).copy()
    nd.loc[1, "Days"] = np.nan
    p = r.predict(nd, se_fit=True)
    assert np.isnan(p["fit"][1]) and np.isfinite(p["fit"][[0, 2]]).all()
    raises_naming(d.head(3).drop(columns="Days"), r.predict, MissingColumnError, ["Days"])


def test_lmlist():
    for key, e in REF["lmlist"].items():
        d = pymer.datasets.load(e["data"])
        f = re.search(r"lmList\((.*?~.*?), data", e["call"]).group(1)
        ll = pymer.lmlist(f, d)
        close(ll.coef.values, e["coef"]["values"])
        assert list(ll.coef.index) == e["coef"]["rownames"]
        close(ll.sigma, e["sigma"])
        ci = ll.confint()
        for j, c in enumerate(e["confint"]["coefs"]):
            close(ci[(c, "2.5 %")].values, np.asarray(e["confint"]["lower"])[:, j])
            close(ci[(c, "97.5 %")].values, np.asarray(e["confint"]["upper"])[:, j])
        assert str(ll).split("\n") == e["print"]


@pytest.mark.parametrize("key", list(REF["anova"]))
def test_anova_mixed_against_fixed(key):
    e = REF["anova"][key]
    d = pymer.datasets.load(e["data"])
    fits = {}
    for nm, call in e["models"].items():
        f = re.search(r"\((.*?~.*?), data", call).group(1)
        if call.startswith("lmer"):
            fits[nm] = pymer.lmer(f, d, REML="REML = FALSE" not in call)
        else:
            fits[nm] = pymer.lm(f, d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = pymer.anova(*[fits[n] for n in e["names"]], names=e["names"])
    t = e["table"]
    assert list(a.table.index) == t["rownames"]
    close(a.table.to_numpy(), t["values"], rtol=1e-6, atol=1e-6)
    assert str(a).split("\n") == e["printed"]


def test_bad_input_names_the_culprit():
    d = pymer.datasets.load("sleepstudy")
    raises_naming(d, lambda x: pymer.lm("Reaction ~ Days + (1 | Subject)", x), FormulaError,
                  ["(1 | Subject)", "lmer"])
    raises_naming(d, lambda x: pymer.lm("Reaction ~ Dayz", x), MissingColumnError, ["Dayz"])
    raises_naming(d, lambda x: pymer.lm("Subject ~ Days", x), PymerDataError, ["Subject"])
    raises_naming(d, lambda x: pymer.glm("Reaction ~ Days", x, family="binomial"), PymerDataError,
                  ["Reaction"])
    raises_naming(d, lambda x: pymer.glm("Reaction ~ Days", x, family="quasi"), ValueError, ["quasi"])
    raises_naming(d, lambda x: pymer.lmlist("Reaction ~ Days", x), FormulaError, ["group"])
    raises_naming(d, lambda x: pymer.lmlist("Reaction ~ Days | Subj", x), MissingColumnError, ["Subj"])
    bad = d.copy()
    bad.loc[bad.Subject == "309", "Reaction"] = np.nan
    raises_naming(bad, lambda x: pymer.lmlist("Reaction ~ Days | Subject", x), PymerDataError,
                  ["'309'", "Subject"])
    r = pymer.lm("Reaction ~ Days", d)
    with pytest.raises(ValueError, match="interval"):
        r.predict(d, interval="tolerance")
