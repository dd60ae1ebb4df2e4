"""pymer's version: defined once, as [project] version in pyproject.toml.

An installed pymer reads it from its distribution's metadata; a source checkout
run with PYTHONPATH=src (no install) reads the pyproject.toml beside src/.
"""
from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

__all__ = ["__version__"]

_PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _version() -> str:
    if _PYPROJECT.is_file():
        text = _PYPROJECT.read_text(encoding="utf-8")
        project = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
        found = project and re.search(r'^version\s*=\s*"([^"]+)"', project.group(1), re.M)
        if found:
            return found.group(1)
    return metadata.version("pymer")


__version__ = _version()
