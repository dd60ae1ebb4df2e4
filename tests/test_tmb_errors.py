"""Bad input to pymer.glmmtmb: clear errors naming the culprit, the caller's data unchanged."""
import numpy as np
import pytest

import pymer
from conftest import raises_naming
from pymer.errors import FormulaError, PymerDataError
from tmbdata import load


@pytest.fixture(scope="module")
def sal():
    return load("Salamanders")


@pytest.fixture(scope="module")
def beta():
    return load("beta_sim")


def test_zero_inflation_for_a_family_without_zeros(beta):
    raises_naming(beta, lambda d: pymer.glmmtmb("y ~ x + (1 | grp)", d, family="beta", ziformula="~1"),
                  ValueError, ["ziformula", "beta", "no zeros"])
    d = load("Owls")
    raises_naming(d, lambda d: pymer.glmmtmb("ArrivalTime ~ FoodTreatment + (1 | Nest)", d, family="Gamma",
                                             ziformula="~1"), ValueError, ["Gamma", "no zeros"])


def test_truncated_family_with_zeros_needs_a_ziformula(sal):
    raises_naming(sal, lambda d: pymer.glmmtmb("count ~ mined + (1 | site)", d, family="truncated_poisson"),
                  PymerDataError, ["'count'", "truncated_poisson", "zeros", "ziformula"])


def test_non_integer_counts(sal):
    d = sal.copy()
    d["y"] = d["count"] + 0.5
    raises_naming(d, lambda d: pymer.glmmtmb("y ~ mined + (1 | site)", d, family="nbinom2"),
                  PymerDataError, ["'y'", "whole numbers", "nbinom2", "0.5"])
    d["y"] = -d["count"]
    raises_naming(d, lambda d: pymer.glmmtmb("y ~ mined + (1 | site)", d, family="poisson"),
                  PymerDataError, ["'y'", ">= 0", "poisson"])


def test_beta_response_outside_the_unit_interval(beta):
    d = beta.copy()
    d.loc[3, "y"] = 1.0
    raises_naming(d, lambda d: pymer.glmmtmb("y ~ x + (1 | grp)", d, family="beta"),
                  PymerDataError, ["'y'", "between 0 and 1", "beta", "row 4"])


def test_unknown_family_and_link(sal):
    raises_naming(sal, lambda d: pymer.glmmtmb("count ~ mined + (1 | site)", d, family="nbinom3"),
                  ValueError, ["unknown glmmTMB family", "'nbinom3'", "nbinom2"])
    raises_naming(sal, lambda d: pymer.glmmtmb("count ~ mined + (1 | site)", d,
                                               family=pymer.tmb.family("nbinom2", "probit")),
                  ValueError, ["link 'probit'", "nbinom2"])
    with pytest.raises(TypeError, match="family must be"):
        pymer.glmmtmb("count ~ mined + (1 | site)", sal, family=3)


def test_formulas_and_options(sal):
    raises_naming(sal, lambda d: pymer.glmmtmb("count ~ mined + (1 | site)", d, family="poisson",
                                               ziformula="mined"), FormulaError, ["ziformula", "'~'"])
    raises_naming(sal, lambda d: pymer.glmmtmb("count ~ mined + (1 | site)", d, family="poisson",
                                               dispformula="~mined"), ValueError, ["dispformula", "poisson",
                                                                                   "no dispersion"])
    raises_naming(sal, lambda d: pymer.glmmtmb("count ~ mined + (1 | site)", d, family="poisson", REML=True),
                  ValueError, ["REML", "gaussian"])
    # random effects in ziformula are fitted (tests/test_tmb_zire.py); glmmTMB 1.1.5 refuses
    # them in dispformula
    raises_naming(sal, lambda d: pymer.glmmtmb("count ~ mined + (1 | site)", d, family="nbinom2",
                                               dispformula="~(1 | site)"), NotImplementedError,
                  ["random effects in dispformula"])
    raises_naming(sal, lambda d: pymer.glmmtmb("count ~ nosuch + (1 | site)", d, family="poisson"),
                  PymerDataError, ["nosuch"])
    raises_naming(sal, lambda d: pymer.glmmtmb("count ~ mined + (1 | site)", d, family="poisson",
                                               ziformula="~nosuch"), PymerDataError, ["nosuch"])
    raises_naming(sal, lambda d: pymer.glmmtmb("count ~ mined + (1 | site)", d, family="poisson",
                                               control={"iter": 3}), ValueError, ["'iter'", "maxit"])
    raises_naming(sal, lambda d: pymer.glmmtmb("count ~ mined + (1 | site)", d, family="poisson",
                                               start=[0.0, 1.0]), ValueError, ["start", "3"])


def test_binomial_responses():
    d = load("cbpp")
    raises_naming(d, lambda d: pymer.glmmtmb("incidence ~ period + (1 | herd)", d, family="binomial"),
                  PymerDataError, ["'incidence'", "0/1 or proportions", "binomial"])
    raises_naming(d, lambda d: pymer.glmmtmb("cbind(incidence, size - incidence) ~ period + (1 | herd)", d,
                                             family="poisson"), PymerDataError, ["cbind", "binomial"])


def test_missing_values_in_any_formula_drop_the_row(sal):
    d = sal.copy()
    d["cov"] = d["cover"]
    d.loc[[0, 5], "cov"] = np.nan
    before = d.copy()
    m = pymer.glmmtmb("count ~ mined + (1 | site)", d, family="poisson", ziformula="~cov")
    assert m.nobs == len(d) - 2
    assert m.predict().shape == (len(d) - 2,)
    import pandas as pd
    pd.testing.assert_frame_equal(d, before)
