"""The printed sleepstudy summary, line by line against lme4's own output (R 4.2.2, lme4 1.1-31)."""
from pathlib import Path

import numpy as np
import pytest

import pymer
from conftest import load_reference

R_SUMMARY = (Path(__file__).parent / "reference" / "sleepstudy_summary_lme4.txt").read_text().splitlines()


@pytest.fixture(scope="module")
def sleep():
    return pymer.lmer("Reaction ~ Days + (Days | Subject)", pymer.datasets.load("sleepstudy"))


def test_summary_matches_lme4_text(sleep):
    ours = str(sleep.summary()).splitlines()
    # lme4 names the data argument as written in the call ("d" in refgen.R)
    expected = [l.replace("   Data: d", "   Data: sleepstudy") for l in R_SUMMARY]
    assert [l.rstrip() for l in ours[:len(expected)]] == [l.rstrip() for l in expected]


def test_lecture_numbers(sleep):
    s = str(sleep.summary())
    for token in ["1743.6", "612.10", "24.741", "35.07", "5.922", "0.07", "654.94", "25.592",
                  "251.405", "6.825", "36.838", "10.467", "1.546", "6.771", "-0.138"]:
        assert token in s
    np.testing.assert_allclose(sleep.fitted[:3], [253.6637, 273.3299, 292.9962], atol=1e-4)


def test_coef_subjects(sleep):
    ref = load_reference("lmm.json")["sleepstudy_slopes"]["coef"]["Subject"]
    coef = sleep.coef["Subject"]
    assert list(coef.index[:6]) == ["308", "309", "310", "330", "331", "332"]
    np.testing.assert_allclose(coef.values, np.asarray(ref["values"]), rtol=1e-5)
    assert list(coef.columns) == ref["columns"]
