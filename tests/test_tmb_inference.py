"""confint (Wald), tidy and anova of glmmtmb fits against glmmTMB / broom.mixed
(tests/reference/tmb_inference.R)."""
import json
import pathlib

import numpy as np
import pytest

import pymer
from tmbdata import load

REF = json.loads((pathlib.Path(__file__).parent / "reference" / "tmb_inference.json").read_text())


@pytest.fixture(scope="module")
def fits():
    d = load("Salamanders")
    m1 = pymer.glmmtmb("count ~ mined + (1 | site)", d, family="poisson", ziformula="~mined")
    m0 = pymer.glmmtmb("count ~ 1 + (1 | site)", d, family="poisson", ziformula="~mined")
    return m0, m1


def test_tidy(fits):
    t, r = fits[1].tidy(), REF["tidy"]
    assert list(t["effect"]) == r["effect"] and list(t["component"]) == r["component"]
    assert list(t["term"]) == r["term"]
    np.testing.assert_allclose(t["estimate"], r["estimate"], rtol=2e-3)
    fixed = t["effect"] == "fixed"
    k = int(fixed.sum())
    np.testing.assert_allclose(t.loc[fixed, "std.error"], np.array(r["std_error"][:k], dtype=float), rtol=1e-2)
    np.testing.assert_allclose(t.loc[fixed, "statistic"], np.array(r["statistic"][:k], dtype=float), rtol=1e-2)


def test_anova(fits):
    a, r = fits[1].anova(fits[0]), REF["anova"]
    np.testing.assert_allclose(a["Df"], r["Df"])
    np.testing.assert_allclose(a["logLik"], r["logLik"], rtol=1e-7)
    np.testing.assert_allclose(a["AIC"], r["AIC"], rtol=1e-7)
    assert a["Chisq"].iloc[1] == pytest.approx(r["Chisq"][1], rel=1e-4)
    assert a["Pr(>Chisq)"].iloc[1] == pytest.approx(r["p"][1], rel=1e-3)
    with pytest.raises(TypeError, match="two glmmtmb fits"):
        fits[1].anova(3)


def test_wald_confint(fits):
    ci, r = fits[1].confint(), REF["confint"]
    n = len(ci)
    assert list(ci.index) == r["names"][:n]            # glmmTMB adds the SD's interval last
    np.testing.assert_allclose(ci["2.5 %"], r["lower"][:n], rtol=5e-3, atol=1e-3)
    np.testing.assert_allclose(ci["97.5 %"], r["upper"][:n], rtol=5e-3, atol=1e-3)
    with pytest.raises(ValueError, match="level"):
        fits[1].confint(level=95)


def test_drop1():
    d = load("Salamanders")
    before = d.copy()
    m = pymer.glmmtmb("count ~ mined + spp + (1 | site)", d, family="poisson", ziformula="~mined")
    t, r = m.drop1(), REF["drop1"]
    assert list(t.index) == r["terms"]
    np.testing.assert_allclose(t["Df"].iloc[1:], r["Df"][1:])
    np.testing.assert_allclose(t["AIC"], r["AIC"], rtol=1e-7)
    np.testing.assert_allclose(t["LRT"].iloc[1:], r["LRT"][1:], rtol=1e-4)
    np.testing.assert_allclose(t["Pr(>Chi)"].iloc[1:], r["p"][1:], rtol=1e-3)
    import pandas as pd
    pd.testing.assert_frame_equal(d, before)
    with pytest.raises(ValueError, match="test must be"):
        m.drop1(test="F")
