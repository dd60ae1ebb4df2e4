"""Each example script runs and prints the numbers its lecture reports.

The expected values are lme4 1.1-31's (tests/reference: seed_models.json and
R's lm() for the bats exercise), at the precision the scripts print.
"""
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pymer

EXAMPLES = Path(__file__).parents[1] / "examples"


def run(script):
    r = subprocess.run([sys.executable, str(EXAMPLES / script)], capture_output=True, text=True,
                       timeout=300, cwd=EXAMPLES.parent)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    return r.stdout


def number_after(text, label):
    m = re.search(re.escape(label) + r"\s*(-?[0-9.]+)", text)
    assert m, f"{label!r} not in output"
    return float(m.group(1))


def test_all_examples_are_tested():
    tested = {"sleepstudy.py", "random_slopes.py", "lamprey_edna.py", "bats.py",
              "negative_binomial_sites.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_sleepstudy():
    out = run("sleepstudy.py")
    assert out.startswith("Linear mixed model fit by REML ['lmerMod']")
    assert "REML criterion at convergence: 1743.6" in out
    assert "(Intercept)  251.405      6.825  36.838" in out
    assert "Days          10.467      1.546   6.771" in out
    assert " Subject  (Intercept) 612.10   24.741" in out
    # lme4: anova(m0, m1): Chisq 42.139 on 2 df, p 7.07e-10; AIC 1802.1 vs 1763.9
    assert "AIC 1802.08 vs 1763.94; Chisq = 42.14 on 2 df, p = 7.07e-10" in out
    assert "with SD 5.922 ms/day" in out
    assert re.search(r"308\s+253\.664\s+19\.666", out)                 # coef(m)$Subject


def test_random_slopes():
    out = run("random_slopes.py")
    crit = [float(x) for x in re.findall(r"REML criterion at convergence: ([0-9.]+)", out)]
    assert crit == pytest.approx([1040.356, 900.587], abs=0.05)             # lme4 1040.4, 900.6
    assert "random intercepts  0.7619 (SE 0.0808)" in out                # lme4 0.76192 (0.08083)
    assert "random slopes      0.6438 (SE 0.2275)" in out                # lme4 0.64377 (0.22751)
    # ML fits: lme4 -2 logLik of the slopes model 901.0809 -> logLik -450.54, AIC 913.08
    assert "vs -450.54; AIC" in out and "vs 913.08" in out
    assert number_after(out, "model's slope SD") == pytest.approx(0.888, abs=1e-3)


def test_lamprey_edna():
    out = run("lamprey_edna.py")
    # lme4: REML criterion 217.4477 (Sample) and 219.0561 (tank); sigma 0.48017 / 0.50222
    assert "(1 | Sample)  REML criterion 217.45, Sample SD 0.1556, residual SD 0.4802" in out
    assert "(1 | tank)    REML criterion 219.06, tank SD 0.0227, residual SD 0.5022" in out
    # lme4 fixef 0.25765, 3.33548, 4.68710, 5.89999; SEs 0.09537/0.13487 and 0.08405/0.11838
    assert re.search(r"stock200L\s+5\.9000\s+0\.1349\s+0\.1184", out)
    assert re.search(r"\(Intercept\)\s+0\.2576\s+0\.0954\s+0\.0840", out)
    assert "0L 0.258, 2L 3.593, 20L 4.945, 200L 6.158" in out
    if hasattr(pymer, "glmer"):
        # lme4: AIC 101.1087, tank SD 0.71246
        assert number_after(out, "Juveniles: AIC") == pytest.approx(101.1087, abs=2e-4)
        sd = float(re.search(r"Juveniles: AIC [0-9.]+, tank SD ([0-9.]+)", out).group(1))
        assert sd == pytest.approx(0.7125, abs=2e-4)
    else:
        assert "no glmer() yet" in out


def test_bats():
    out = run("bats.py")
    assert "Formula: mass ~ species * forest - 1 + (1 | sites)" in out
    # R: lm(mass ~ species * forest - 1 + sites): 20 coefficients, sigma 2.894335 on 130 df
    assert "20 coefficients, residual SD 2.8943 on 130 df" in out
    # lme4 fixef (speciesSpp1 33.78928, SE 1.63228) vs lm's forest 0.02402 (SE 0.01356)
    assert re.search(r"speciesSpp1\s+33\.789\d\s+1\.632\d\s+33\.7099\s+1\.1715", out)
    assert re.search(r"forest\s+0\.0236\s+0\.0135\s+0\.0240\s+0\.0136", out)
    # lme4 sites SD 5.0922, sigma 2.8949 (objective 807.359; lme4 warns, pymer may be lower)
    assert number_after(out, "Between-site SD: lmer") == pytest.approx(5.092, abs=2e-3)
    assert number_after(out, "Residual SD: lmer") == pytest.approx(2.8949, abs=2e-4)
    ratio = number_after(out, "Median shrinkage of the site effects (lmer / lm):")
    assert 0.9 < ratio < 1.0                                           # shrunk toward 0
    assert re.search(r"Highhedge\s+12\.013\s+11\.5", out)


def test_negative_binomial_sites():
    out = run("negative_binomial_sites.py")
    assert "Counts: mean 14.79, variance" in out
    if not hasattr(pymer, "glmer_nb"):
        assert "no glmer_nb() yet" in out
        return
    assert "Family: Negative Binomial(5.129" in out
    # lme4: theta 5.1294, -2 logLik 615.8468 -> logLik -307.923
    assert number_after(out, "Negative binomial: theta") == pytest.approx(5.1294, abs=2e-3)
    assert number_after(out, "logLik") == pytest.approx(-307.923, abs=5e-3)
    assert "The negative binomial model fits better by" in out
