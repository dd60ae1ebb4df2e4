"""Package files: one version everywhere, the licence, py.typed, extras, the README's commands."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pymer
from package_meta import PROJECT, ROOT, installed_distribution

VERSION = PROJECT["version"]


def test_version_is_defined_once_and_everything_agrees():
    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?(a|b|rc|dev|post)\d*)?", VERSION)
    assert "version" not in PROJECT.get("dynamic", [])
    # meson's project() declares none: meson-python takes pyproject's
    assert not re.search(r"^\s*version\s*:", (ROOT / "meson.build").read_text(), re.M)
    assert pymer.__version__ == VERSION
    r = subprocess.run([sys.executable, "-m", "pymer", "--version"], capture_output=True,
                       text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == f"pymer {VERSION}"
    # the console script of this environment (scripts/py puts its bin/ first on PATH)
    exe = shutil.which("pymer")
    if exe and Path(exe).parent == Path(sys.executable).parent:
        r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and r.stdout.strip() == f"pymer {VERSION}"


def test_installed_metadata_has_the_version_and_the_licence():
    dist = installed_distribution()
    if dist is None:
        return
    assert dist.version == VERSION
    assert dist.metadata["License-Expression"] == "MIT"
    assert "pymer developers" in dist.metadata["Author"]
    assert any(str(f).endswith("LICENSE") for f in dist.files)


def test_licence_file_is_mit_as_pyproject_says():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Copyright (c)" in text and "pymer developers" in text
    assert PROJECT["license"] == "MIT" and PROJECT["license-files"] == ["LICENSE"]
    assert PROJECT["authors"] == [{"name": "pymer developers"}]


def test_py_typed_is_installed_with_the_package():
    assert (Path(pymer.__file__).parent / "py.typed").is_file()
    meson = (ROOT / "src" / "pymer" / "meson.build").read_text()
    assert re.search(r"install_sources\([^)]*'py\.typed'[^)]*subdir: 'pymer'\)", meson)


def test_all_extra_holds_every_optional_feature():
    extras = PROJECT["optional-dependencies"]
    everything = extras["all"]
    self_ref = [r for r in everything if r.startswith("pymer[")]
    named = {e.strip() for r in self_ref for e in r[len("pymer["):-1].split(",")}
    features = set(extras) - {"all", "test", "docs"}
    assert {"plot", "dataframes", "progress", "parquet"} <= features | {"dask"}
    for feature in features:
        assert feature in named or set(extras[feature]) <= set(everything), feature
    assert "dask" in features and "dask" in named   # the Dask extra, through pymer[...,dask]
    assert named <= features                     # no reference to an extra that does not exist


def test_changelog_has_unreleased_and_this_version():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "keepachangelog.com" in text
    heads = re.findall(r"^## \[([^\]]+)\]", text, re.M)
    assert heads[0] == "Unreleased" and VERSION in heads


def _readme_commands():
    readme = (ROOT / "README.md").read_text()
    return re.findall(r"^    (bash scripts/setup\.sh && .+)$", readme, re.M)


def test_ci_runs_the_readmes_test_command_exactly():
    first, tests = _readme_commands()[:2]
    assert first.endswith("examples/sleepstudy.py")
    assert "pytest" in tests
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line and not line.startswith("#")]
    assert tests in ci


def test_setup_scripts_are_executable_and_py_runs_the_environment_of_setup():
    for name in ("setup.sh", "py", "system_packages.sh", "build_wheel.sh", "check_wheel.sh",
                 "build_docs.sh"):
        assert os.access(ROOT / "scripts" / name, os.X_OK), name
    # scripts/py picks the active venv first, as setup.sh installs into it
    env = dict(os.environ, VIRTUAL_ENV=str(Path(sys.prefix)))
    r = subprocess.run([str(ROOT / "scripts" / "py"), "-c", "import sys; print(sys.prefix)"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0 and Path(r.stdout.strip()) == Path(sys.prefix)
    env = dict(os.environ, VIRTUAL_ENV="/nonexistent/venv")
    r = subprocess.run([str(ROOT / "scripts" / "py"), "-c", "pass"], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 1 and "bash scripts/setup.sh" in r.stderr
