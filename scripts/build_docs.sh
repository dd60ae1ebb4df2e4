#!/usr/bin/env bash
# Build the documentation site into site/ with warnings as errors (mkdocs build --strict).
# The example pages run the examples, so pymer is set up first (scripts/setup.sh), and
# the docs extra's tools are installed into the same environment.
#
#   bash scripts/build_docs.sh [mkdocs build options, e.g. --site-dir /tmp/site]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
cd "$PYMER_ROOT"
bash scripts/setup.sh
if ! "$PYMER_PYTHON" -c "import mkdocs, material, mkdocstrings_handlers.python" >/dev/null 2>&1; then
  "$PYMER_PYTHON" - <<'PY' > "$PYMER_VENV/.pymer-docs-requirements.txt"
try:
    import tomllib
except ModuleNotFoundError:          # Python 3.10: pip's own copy of tomli
    from pip._vendor import tomli as tomllib
with open("pyproject.toml", "rb") as f:
    print("\n".join(tomllib.load(f)["project"]["optional-dependencies"]["docs"]))
PY
  "$PYMER_PYTHON" -m pip install -q --disable-pip-version-check -r "$PYMER_VENV/.pymer-docs-requirements.txt"
fi
NO_MKDOCS_2_WARNING=1 "$PYMER_PYTHON" -m mkdocs build --strict "$@"   # (no banner about MkDocs 2)
