"""The documentation site's sources hang together, and the site builds with warnings as
errors (``mkdocs build --strict``, which runs the examples; scripts/build_docs.sh builds
it into site/)."""
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
MKDOCS = (ROOT / "mkdocs.yml").read_text()
NAV = re.findall(r"^\s*-\s+(?:[^:\n]+:\s+)?(\S+\.md)\s*$", MKDOCS, re.M)


def _directives(kind):
    return [(page, target) for page in PAGES
            for target in re.findall(rf"^<!-- {kind} (\S+) -->$", (DOCS / page).read_text(), re.M)]


def test_every_page_is_in_the_navigation_and_every_entry_exists():
    assert sorted(NAV) == PAGES
    assert "docs_dir: docs" in MKDOCS and "strict: true" in MKDOCS


def test_every_example_script_has_its_page():
    shown = {target for _, target in _directives("example")}
    scripts = {p.relative_to(ROOT).as_posix() for p in (ROOT / "examples").glob("*.py")}
    assert shown == scripts


@pytest.mark.parametrize("kind", ["example", "include"])
def test_directives_name_files_of_the_repository(kind):
    found = _directives(kind)
    assert found
    for page, target in found:
        assert (ROOT / target).is_file(), (page, target)


def test_run_blocks_are_closed_python_blocks():
    for page in PAGES:
        text = (DOCS / page).read_text()
        opened = text.count("<!-- run -->")
        assert opened == text.count("<!-- /run -->"), page
        assert opened == len(re.findall(r"^<!-- run -->\n```python\n.*?```\n<!-- /run -->$",
                                         text, re.M | re.S)), page


def test_api_reference_names_public_objects():
    names = re.findall(r"^::: (\S+)$", (DOCS / "api.md").read_text(), re.M)
    assert "pymer.lmer" in names and "pymer.LMMResult" in names
    for name in names:
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):          # the longest importable module prefix
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
            break
        assert obj.__doc__, name


def test_the_site_builds_strictly_with_its_examples_run(tmp_path):
    """The whole site, as CI builds it: warnings are errors, every example and run block
    is executed with this Python (the docs tools come with the test extra)."""
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    import pymer
    src = ROOT / "src"
    if Path(pymer.__file__).resolve().is_relative_to(src.resolve()):   # the pymer under test
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(tmp_path / "site")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    assert (tmp_path / "site" / "index.html").exists()
    assert (tmp_path / "site" / "examples" / "sleepstudy" / "index.html").exists()
