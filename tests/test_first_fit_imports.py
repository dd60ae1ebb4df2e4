"""Issue 16: the first fit is light. ``import pymer; pymer.lmer(...)`` (and ``pymer.glmer``)
does not import SciPy's statistics (scipy.stats), optimizers (scipy.optimize) or
interpolation (scipy.interpolate): they load in the functions that need them (p-values,
intervals, quantile residuals, splines). Each check runs in a fresh interpreter."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pymer

ROOT = Path(__file__).resolve().parents[1]
LATE = ("scipy.stats", "scipy.optimize", "scipy.interpolate", "matplotlib")


def fresh_loaded(code: str) -> list:
    """Run `code` in a new interpreter (the pymer under test) and return which of LATE it left
    in sys.modules."""
    env = {"PYTHONPATH": str(Path(pymer.__file__).resolve().parents[1]),
           "PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}
    code = f"import sys, json, warnings\nimport pymer\n{code}\nprint(json.dumps([m for m in {LATE!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_first_lmer_and_glmer_fits_import_neither_scipy_stats_nor_optimize():
    loaded = fresh_loaded(
        "m = pymer.lmer('Reaction ~ Days + (Days | Subject)', pymer.datasets.load('sleepstudy'))\n"
        "assert abs(m.loglik - (-871.8141)) < 1e-3, m.loglik\n"
        "str(m.summary())\n"
        "cbpp = pymer.datasets.load('cbpp')\n"
        "g = pymer.glmer('cbind(incidence, size - incidence) ~ period + (1 | herd)', cbpp,"
        " family='binomial')\n"
        "assert abs(g.loglik - (-92.02628)) < 1e-3, g.loglik")
    assert loaded == []


def test_the_check_sees_the_late_imports_when_they_are_needed():
    # the same check fails when something imports them: a GLMM's z-test p-values import
    # scipy.stats, a natural spline scipy.interpolate
    loaded = fresh_loaded(
        "cbpp = pymer.datasets.load('cbpp')\n"
        "g = pymer.glmer('cbind(incidence, size - incidence) ~ period + (1 | herd)', cbpp,"
        " family='binomial')\n"
        "str(g.summary())\n"
        "m = pymer.lmer('Reaction ~ ns(Days, 3) + (1 | Subject)', pymer.datasets.load('sleepstudy'))\n"
        "assert m.beta.size == 4")
    assert "scipy.stats" in loaded and "scipy.interpolate" in loaded
