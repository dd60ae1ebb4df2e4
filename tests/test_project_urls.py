"""Issue 16: pyproject.toml names the authors and the project's addresses (Homepage,
Documentation, Source, Issues, Changelog), and an installed pymer carries them.

The addresses are the intended public ones (github.com/pymer-dev/pymer, docs on its
GitHub Pages); the repository is not public yet."""
from importlib import metadata
from pathlib import Path

import pymer

try:
    import tomllib
except ModuleNotFoundError:          # Python 3.10
    from pip._vendor import tomli as tomllib   # pip's own copy

ROOT = Path(__file__).parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
REPO = "https://github.com/pymer-dev/pymer"
URLS = {
    "Homepage": REPO,
    "Documentation": "https://pymer-dev.github.io/pymer",
    "Source": REPO,
    "Issues": f"{REPO}/issues",
    "Changelog": f"{REPO}/blob/main/CHANGELOG.md",
}


def test_pyproject_has_the_project_urls_and_authors():
    assert PROJECT["urls"] == URLS
    assert PROJECT["authors"] and all(a.get("name") for a in PROJECT["authors"])
    # the changelog the URL points at is the file in the repository
    assert (ROOT / "CHANGELOG.md").is_file()


def test_installed_metadata_has_the_project_urls():
    here = Path(pymer.__file__).resolve()
    dists = [d for d in metadata.distributions() if d.metadata["Name"] == "pymer"
             and Path(d.locate_file("pymer/__init__.py")).resolve() == here]
    if not dists:                       # a source checkout on PYTHONPATH: no metadata to read
        assert here == (ROOT / "src" / "pymer" / "__init__.py").resolve()
        return
    (dist,) = dists
    urls = dict(u.split(", ", 1) for u in dist.metadata.get_all("Project-URL"))
    assert urls == URLS
