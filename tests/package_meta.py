"""The package's own metadata for the packaging tests: pyproject.toml's [project] table and
the installed distribution of the pymer under test."""
from importlib import metadata
from pathlib import Path

import pymer

try:
    import tomllib
except ModuleNotFoundError:          # Python 3.10
    from pip._vendor import tomli as tomllib   # pip's own copy

ROOT = Path(__file__).parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]


def installed_distribution():
    """The distribution that holds the pymer being tested (an install, not a stale copy
    elsewhere), or None for a source checkout on PYTHONPATH (no metadata to read)."""
    here = Path(pymer.__file__).resolve()
    dists = [d for d in metadata.distributions() if d.metadata["Name"] == "pymer"
             and Path(d.locate_file("pymer/__init__.py")).resolve() == here]
    if not dists:
        assert here == (ROOT / "src" / "pymer" / "__init__.py").resolve()
        return None
    (dist,) = dists
    return dist
