"""Issue 16, "everyday friction found by trying it": start-up, the command line's JSON and
--ddf, warnings at the caller's line, the data sets' documented levels and examples,
consistent accessors, the nAGQ > 1 likelihood note, the benchmark without statsmodels.

Reference values: tests/reference/friction.R -> friction.json (lme4 1.1-31, lmerTest,
broom.mixed)."""
import ast
import importlib.util
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy.special import gammaln, xlogy

import pymer
from conftest import load_reference
from pymer import cli, datasets

REF = load_reference("friction.json")
ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
SLEEP = "Reaction ~ Days + (Days | Subject)"


def fresh_modules(code: str) -> dict:
    """Run `code` in a new interpreter (the pymer under test: the installed one in CI, the
    checkout's with PYTHONPATH=src); returns the JSON it prints."""
    env_path = str(Path(pymer.__file__).resolve().parents[1])
    env = {"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


HEAVY = ("scipy", "matplotlib", "pandas", "pymer.lmm", "pymer.glmm", "pymer._core", "pymer.results")


def _loaded(mods, prefixes):
    return sorted(m for m in mods if any(m == p or m.startswith(p + ".") for p in prefixes))


# ---- start-up --------------------------------------------------------------------------

def test_import_pymer_leaves_the_heavy_stack_unloaded():
    mods = fresh_modules("import sys, json, pymer; print(json.dumps(sorted(sys.modules)))")
    assert "pymer" in mods
    assert _loaded(mods, HEAVY) == []
    assert "scipy.stats" not in mods and "matplotlib" not in mods


def test_cli_version_and_help_do_not_import_the_fitting_stack():
    code = ("import sys, json, io, contextlib\nfrom pymer import cli\nres = {}\n"
            "for argv in (['--version'], ['--help'], ['fit', '--help']):\n"
            "    buf = io.StringIO()\n"
            "    with contextlib.redirect_stdout(buf):\n"
            "        try:\n            cli.main(argv)\n"
            "        except SystemExit as e:\n            res[argv[-1] + argv[0]] = [e.code, buf.getvalue()]\n"
            "res['modules'] = sorted(sys.modules)\nprint(json.dumps(res))")
    res = fresh_modules(code)
    assert res["--version--version"] == [0, f"pymer {pymer.__version__}\n"]
    assert res["--help--help"][0] == 0 and "fit" in res["--help--help"][1]
    assert "--ddf" in res["--helpfit"][1]
    assert _loaded(res["modules"], HEAVY + ("numpy",)) == []


def test_public_names_load_on_first_use():
    mods = fresh_modules(
        "import sys, json, pymer\n"
        "from pymer.profile import Profile\n"          # the submodule first: pymer.profile stays the function
        "ok = [callable(pymer.profile) and pymer.profile.__module__ == 'pymer.inference.profile',\n"
        "      hasattr(pymer.plots, 'ranef_plot'), pymer.lmer.__name__ == 'lmer',\n"
        "      set(pymer.__all__) <= set(dir(pymer))]\n"
        "print(json.dumps(ok))")
    assert mods == [True, True, True, True]
    with pytest.raises(AttributeError, match="no attribute 'lmerr'"):
        pymer.lmerr


# ---- the command line ------------------------------------------------------------------

def test_json_to_stdout_is_the_json_alone(capsys):
    code = cli.main(["fit", SLEEP, "--data", "sleepstudy", "--json", "-"])
    out, err = capsys.readouterr()
    assert code == 0
    est = json.loads(out)                                # nothing but the JSON
    assert est["fixef"]["Days"] == pytest.approx(10.467285959596, rel=1e-7)
    assert err.startswith("Linear mixed model fit by REML")


@pytest.mark.parametrize("ddf", ["Satterthwaite", "Kenward-Roger"])
def test_cli_ddf_as_lmertest(capsys, ddf):
    code = cli.main(["fit", SLEEP, "--data", "sleepstudy", "--ddf", ddf, "--json", "-"])
    out, err = capsys.readouterr()
    assert code == 0, err
    est = json.loads(out)
    ref = REF["sleepstudy_ddf"][ddf]
    assert list(est["df"]) == ref["names"]
    np.testing.assert_allclose(list(est["df"].values()), ref["df"], rtol=1e-4)
    np.testing.assert_allclose(list(est["p"].values()), ref["p"], rtol=1e-3)
    assert f"t-tests use {ddf}'s method" in err and "Pr(>|t|)" in err


def test_cli_ddf_errors_name_the_culprit(capsys):
    assert cli.main(["fit", SLEEP, "--data", "sleepstudy", "--ddf", "exact"]) == 1
    assert "ddf='exact'" in capsys.readouterr().err
    assert cli.main(["fit", "cbind(incidence, size - incidence) ~ period + (1 | herd)",
                     "--data", "cbpp", "--family", "binomial", "--ddf", "Satterthwaite"]) == 1
    assert "--ddf applies to linear mixed models only" in capsys.readouterr().err


# ---- warnings point at the caller's line -----------------------------------------------

def _caught(fn):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fn()
    return w


def test_warnings_point_at_the_callers_line():
    sleep = datasets.load("sleepstudy")
    big = sleep.assign(big=sleep["Days"] * 1e6)
    dye2 = datasets.load("Dyestuff2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m0 = pymer.lmer("Reaction ~ 1 + (1 | Subject)", sleep)
        m1 = pymer.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    cases = [  # each calls pymer on its lambda's (one) line: the line a warning must name
        (pymer.SingularFitWarning, lambda: pymer.lmer("Yield ~ 1 + (1 | Batch)", dye2)),
        (pymer.PredictorScaleWarning, lambda: pymer.lmer("Reaction ~ big + (1 | Subject)", big)),
        (RuntimeWarning, lambda: pymer.lmer("Reaction ~ log(Days - 2.5) + (1 | Subject)", sleep)),
        (pymer.RefitWarning, lambda: pymer.anova(m0, m1)),
        (pymer.ResponseWarning, lambda: pymer.glmer("r ~ 1 + (1 | g)", pd.DataFrame(
            {"r": np.arange(12) % 3 + 0.5, "g": np.repeat(list("abcd"), 3)}), family="poisson")),
    ]
    for category, fn in cases:
        w = _caught(fn)
        ours = [x for x in w if issubclass(x.category, category)]
        assert ours, f"no {category.__name__}"
        for x in w:                  # every warning of the call, pymer's and the optimizer's
            assert (x.filename, x.lineno) == (__file__, fn.__code__.co_firstlineno), str(x.message)


def test_every_warning_goes_through_errors_warn():
    """No module but errors.py calls warnings.warn: the others call errors.warn, which
    computes the stacklevel of the first frame outside pymer."""
    offenders = []
    for path in (SRC / "pymer").rglob("*.py"):
        if path.name == "errors.py" and path.parent.name == "pymer":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "warn" and getattr(node.func.value, "id", None) == "warnings":
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert offenders == []


def test_warn_helper_stacklevel_through_nested_pymer_frames(tmp_path):
    from pymer.errors import warn
    ns = {"__name__": "pymer.fake_inner", "warn": warn}
    exec(compile("def inner():\n    warn('deep', UserWarning)\n", "<pymer-inner>", "exec"), ns)
    outer = {"__name__": "pymer.fake_outer", "inner": ns["inner"]}
    exec(compile("def outer():\n    inner()\n", "<pymer-outer>", "exec"), outer)
    call = lambda: outer["outer"]()     # noqa: E731
    w = _caught(call)
    assert [(x.filename, x.lineno) for x in w] == [(__file__, call.__code__.co_firstlineno)]


# ---- data sets -------------------------------------------------------------------------

def test_lamprey_stock_has_the_documented_level_order():
    d = datasets.load("lamprey_adult_lab_DNA")
    assert list(d["stock"].cat.categories) == ["0L", "2L", "20L", "200L"]
    assert "0L, 2L, 20L or 200L" in datasets.describe("lamprey_adult_lab_DNA")


def _example_code(name):
    text = datasets.describe(name)
    lines = text.split("Example:\n", 1)[1].splitlines()
    assert all(ln.startswith("  ") for ln in lines)
    return "\n".join(ln[2:] for ln in lines)


@pytest.mark.parametrize("name", datasets.list_datasets())
def test_describe_example_runs_as_printed(name):
    code = _example_code(name)
    assert code.startswith(f'data = pymer.datasets.load("{name}")\n')
    *body, last = code.splitlines()
    ns = {"pymer": pymer}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec("\n".join(body), ns)
        fit = eval(last, ns)
    assert np.isfinite(fit.loglik) and len(fit.fixef) >= 1
    if name == "lamprey_adult_lab_DNA":
        ref = REF["lamprey_example"]
        assert list(fit.fixef.index) == ref["fixef_names"]
        np.testing.assert_allclose(fit.fixef.to_numpy(), ref["fixef"], rtol=1e-5)
        assert fit.sigma == pytest.approx(ref["sigma"], rel=1e-5)
        assert fit.objective <= ref["REMLcrit"] * (1 + 1e-6)


# ---- consistent accessors --------------------------------------------------------------

@pytest.fixture(scope="module")
def fits():
    sleep = datasets.load("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {"random_slope": pymer.lmer(SLEEP, sleep),
                "intercept_only": pymer.lmer("Reaction ~ Days + (1 | Subject)", sleep),
                "cbpp_glmm": pymer.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                                         datasets.load("cbpp"), family="binomial"),
                "lm": pymer.lm("Reaction ~ Days", sleep)}


@pytest.mark.parametrize("key", ["random_slope", "intercept_only", "cbpp_glmm", "lm"])
def test_bic_is_a_float_like_aic(fits, key):
    m = fits[key]
    assert type(m.bic) is float and type(m.aic) is float


@pytest.mark.parametrize("key", ["random_slope", "intercept_only", "cbpp_glmm"])
def test_varcorr_na_is_nan_where_lme4_has_na(fits, key):
    vc = fits[key].varcorr
    ref = REF["varcorr_na"][key]
    for col in ("var1", "var2"):
        assert vc[col].dtype == object
        assert list(np.flatnonzero(vc[col].isna())) == list(np.atleast_1d(ref[col]))
        assert not any(v is None for v in vc[col])      # one convention: NaN, never None
        assert all(isinstance(v, str) or (isinstance(v, float) and np.isnan(v)) for v in vc[col])


def test_tidy_group_is_nan_where_broom_mixed_has_na(fits):
    td = fits["intercept_only"].tidy()
    ref = REF["tidy_group_na"]
    assert list(td["effect"]) == ref["effect"]
    assert list(np.flatnonzero(td["group"].isna())) == ref["group_na"]
    assert not any(v is None for v in td["group"])
    lv = fits["intercept_only"].tidy(effects=["fixed", "ran_vals"])
    assert not any(v is None for c in ("group", "level") for v in lv[c])


# ---- nAGQ > 1: lme4's likelihood leaves out a constant ---------------------------------

def test_agq_loglik_differs_from_lme4_by_the_saturated_loglik():
    cbpp = datasets.load("cbpp")
    g = pymer.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                    family="binomial", nAGQ=9)
    ref = REF["cbpp_nAGQ9"]
    y, n = cbpp["incidence"].to_numpy(float), cbpp["size"].to_numpy(float)
    saturated = float(np.sum(gammaln(n + 1) - gammaln(y + 1) - gammaln(n - y + 1)
                             + xlogy(y, y / n) + xlogy(n - y, 1 - y / n)))
    assert saturated == pytest.approx(ref["saturated_loglik"], rel=1e-12)
    # pymer's is the full log-likelihood: lme4's plus the constant lme4 leaves out, and
    # never worse than lme4's at lme4's optimum
    assert g.loglik >= ref["loglik"] + saturated - 1e-6 * abs(g.loglik)
    assert g.loglik == pytest.approx(ref["loglik"] + saturated, abs=1e-5)
    np.testing.assert_allclose(g.fixef.to_numpy(), list(ref["fixef"].values()), rtol=2e-4)
    note = str(g.summary()).splitlines()[-3:]
    assert "lme4 issue #161" in " ".join(note) and note[0].startswith("Note: logLik")
    g1 = pymer.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                     family="binomial")
    assert "#161" not in str(g1.summary())
    assert "#161" in (ROOT / "README.md").read_text(encoding="utf-8")


# ---- the benchmark without statsmodels -------------------------------------------------

def _bench_run():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bench_skips_statsmodels_at_once_when_missing(tmp_path, monkeypatch, capsys):
    run = _bench_run()
    assert run.statsmodels_missing() == (importlib.util.find_spec("statsmodels") is None)
    monkeypatch.setattr(run, "statsmodels_missing", lambda: True)
    monkeypatch.setattr(run, "OUT_DIR", tmp_path)
    monkeypatch.setattr(run, "machine_info", lambda: {})     # (asks Rscript for versions)

    def no_job(*a, **k):
        raise AssertionError("a statsmodels job was started")
    monkeypatch.setattr(run, "run_job", no_job)
    args = SimpleNamespace(tools=["statsmodels"], raw=tmp_path / "raw.json")
    res = run.run_suite(["sleepstudy", "cbpp"], args, run.model_registry())
    for name in ("sleepstudy", "cbpp"):
        assert res["models"][name]["statsmodels"]["status"] == "skipped"
    assert res["models"]["sleepstudy"]["statsmodels"]["note"] == run.SM_MISSING
    assert "statsmodels is not installed" in capsys.readouterr().out
