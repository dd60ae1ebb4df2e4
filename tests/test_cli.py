"""The command line: `python -m pymer fit ...` / the `pymer` console script."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pymer
from pymer import cli

FORMULA = "Reaction ~ Days + (Days | Subject)"
DATA = Path(pymer.datasets.__file__).parent / "data"
# lme4 1.1-31 (tests/reference, seed_models.json): sleepstudy REML and ML fits
REML = {"objective": 1743.62827195995, "(Intercept)": 251.405104848485, "Days": 10.467285959596,
        "se_Days": 1.54578964390598, "sigma": 25.5917957216753,
        "theta": [0.966741773967412, 0.0151690588960361, 0.230909953207795]}
ML_OBJECTIVE = 1751.93934448899


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_fit_bundled_dataset_prints_summary(capsys):
    code, out, err = run(capsys, "fit", FORMULA, "--data", "sleepstudy")
    assert code == 0
    assert out.startswith("Linear mixed model fit by REML ['lmerMod']")
    assert "   Data: sleepstudy" in out
    assert "REML criterion at convergence: 1743.6" in out
    assert "Days          10.467      1.546   6.771" in out


def test_fit_csv_ml_json(capsys, tmp_path):
    csv = tmp_path / "sleep.csv"
    shutil.copy(DATA / "sleepstudy.csv", csv)
    js = tmp_path / "fit.json"
    code, out, err = run(capsys, "fit", FORMULA, "--data", str(csv), "--ml", "--json", str(js))
    assert code == 0
    assert "Linear mixed model fit by maximum likelihood" in out and "Data: sleep" in out
    est = json.loads(js.read_text())
    assert set(est) >= {"fixef", "se", "theta", "sigma", "varcorr", "objective", "loglik", "aic",
                        "bic", "nobs", "ngrps"}
    assert est["REML"] is False
    assert est["objective"] == pytest.approx(ML_OBJECTIVE, abs=1e-5)
    assert est["loglik"] == pytest.approx(-ML_OBJECTIVE / 2, abs=1e-5)
    assert est["aic"] == pytest.approx(ML_OBJECTIVE + 12, abs=1e-5)
    assert est["fixef"]["Days"] == pytest.approx(REML["Days"], rel=1e-7)
    assert est["nobs"] == 180 and est["ngrps"] == {"Subject": 18}
    assert [r["grp"] for r in est["varcorr"]] == ["Subject"] * 3 + ["Residual"]
    assert est["varcorr"][-1]["var1"] is None


def test_json_to_stdout_matches_fit(capsys):
    code, out, err = run(capsys, "fit", FORMULA, "--data", "sleepstudy", "--reml", "--json", "-")
    assert code == 0
    est = json.loads(out)                       # stdout holds the JSON alone
    assert "REML criterion at convergence: 1743.6" in err
    assert est["objective"] == pytest.approx(REML["objective"], abs=1e-6)
    assert est["theta"] == pytest.approx(REML["theta"], abs=1e-5)
    assert est["se"]["Days"] == pytest.approx(REML["se_Days"], rel=1e-6)
    assert est["sigma"] == pytest.approx(REML["sigma"], rel=1e-7)


def _write_parquet(path):
    import pandas as pd
    df = pd.read_csv(DATA / "sleepstudy.csv")
    try:
        import pyarrow  # noqa: F401
        df.to_parquet(path)
        return
    except ImportError:
        pass
    pl = pytest.importorskip("polars")
    pl.from_dict({c: df[c].tolist() for c in df.columns}).write_parquet(path)


def test_fit_parquet(capsys, tmp_path):
    pq = tmp_path / "sleepstudy.parquet"
    _write_parquet(pq)
    js = tmp_path / "o.json"
    code, out, err = run(capsys, "fit", FORMULA, "-d", str(pq), "--json", str(js))
    assert code == 0, err
    assert "Data: sleepstudy" in out
    assert json.loads(js.read_text())["objective"] == pytest.approx(REML["objective"], abs=1e-6)


def test_parquet_without_pyarrow_is_a_clear_error(capsys, tmp_path, monkeypatch):
    pq = tmp_path / "x.parquet"
    pq.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)      # import pyarrow -> ImportError
    monkeypatch.setitem(sys.modules, "polars", None)
    code, out, err = run(capsys, "fit", FORMULA, "--data", str(pq))
    assert code == 1
    assert "needs pyarrow: pip install pyarrow" in err


@pytest.mark.parametrize("data, message", [
    ("no_such_file.csv", "no such file"),
    ("sleepstudyy", "neither a file nor a bundled data set"),
])
def test_bad_data_argument(capsys, data, message):
    code, out, err = run(capsys, "fit", FORMULA, "--data", data)
    assert code == 1 and message in err and err.startswith("pymer: error:")


def test_model_errors_are_reported_not_raised(capsys):
    code, _, err = run(capsys, "fit", "Reaction ~ Days + (Days | Nobody)", "--data", "sleepstudy")
    assert code == 1 and "Nobody" in err
    code, _, err = run(capsys, "fit", "Reaction ~ Days + (1 | Subject)", "--data", "sleepstudy",
                       "--link", "log")
    assert code == 1 and "--link needs --family" in err


def test_fit_binomial_family(capsys):
    code, out, err = run(capsys, "fit", "cbind(incidence, size - incidence) ~ period + (1 | herd)",
                         "--data", "cbpp", "--family", "binomial", "--json", "-")
    assert code == 0, err
    assert "Family: binomial  ( logit )" in err and "Data: cbpp" in err     # --json -: summary on stderr
    est = json.loads(out)
    assert est["family"] == "binomial" and est["nobs"] == 56 and est["ngrps"] == {"herd": 15}
    assert est["aic"] == pytest.approx(194.0531, abs=0.01)          # lme4: AIC 194.1
    code, _, err = run(capsys, "fit", "incidence ~ period + (1 | herd)", "--data", "cbpp",
                       "--family", "poisson", "--reml")
    assert code == 1 and "maximum likelihood" in err


def test_datasets_command(capsys):
    code, out, _ = run(capsys, "datasets")
    assert code == 0
    names = [ln.split()[0] for ln in out.splitlines()]
    assert names == pymer.datasets.list_datasets()
    code, out, _ = run(capsys, "datasets", "cbpp")
    assert code == 0 and "Lesnoff" in out and "Columns:" in out


def test_python_dash_m_and_console_script(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pymer", "fit", "Yield ~ 1 + (1 | Batch)",
                        "--data", "Dyestuff"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "REML criterion at convergence: 319.6" in r.stdout or \
        "REML criterion at convergence: 319.7" in r.stdout             # lme4: 319.654
    r = subprocess.run([sys.executable, "-m", "pymer", "fit", "y ~ x"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "--data" in r.stderr                # argparse usage error
    # the console script is declared in pyproject.toml ...
    toml = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert '[project.scripts]\npymer = "pymer.cli:main"' in toml
    # ... and works where the package was installed with it
    exe = shutil.which("pymer")
    if exe:
        r = subprocess.run([exe, "datasets"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and "sleepstudy" in r.stdout
