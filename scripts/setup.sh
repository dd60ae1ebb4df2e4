#!/usr/bin/env bash
# Set up pymer on a fresh Debian/Ubuntu machine, or refresh an existing set-up.
#
#   bash scripts/setup.sh          then   scripts/py examples/sleepstudy.py
#
# 1. System packages the build needs, with apt-get (as root, or through sudo):
#    libsuitesparse-dev (CHOLMOD), pkg-config, a C compiler, and for Debian's own
#    python3 the venv module (python3-venv) and the headers (python3-dev).
# 2. A virtual environment: the active one (VIRTUAL_ENV), else .venv in this checkout,
#    made from `python3` on PATH (PYTHON=/path/to/python3 to choose another).
# 3. pip install ".[test]" into it. A stamp (a hash of the sources, pyproject.toml,
#    meson.build files and the set-up scripts) skips the rebuild when nothing changed;
#    PYMER_REBUILD=1 forces it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
cd "$PYMER_ROOT"

say() { echo "setup: $*" >&2; }
die() { echo "setup: error: $*" >&2; exit 1; }

base_python="${PYTHON:-python3}"

# --- 1. system packages ------------------------------------------------------------
bash "$PYMER_ROOT/scripts/system_packages.sh"

# --- 2. the virtual environment -----------------------------------------------------
if [ -z "${VIRTUAL_ENV:-}" ]; then
  if ! "$PYMER_PYTHON" -c "import pip" >/dev/null 2>&1; then
    say "making a virtual environment in $PYMER_VENV"
    rm -rf "$PYMER_VENV"
    "$base_python" -m venv "$PYMER_VENV" \
      || die "'$base_python -m venv' failed: on Debian/Ubuntu install python3-venv"
  fi
elif [ ! -x "$PYMER_PYTHON" ]; then
  die "VIRTUAL_ENV=$VIRTUAL_ENV has no bin/python: deactivate it or repair it"
fi

# --- 3. pymer and its test extra, rebuilt only when something changed -------------------
stamp_file="$PYMER_VENV/.pymer-setup-stamp"
stamp="$(
  {
    echo "$PYMER_ROOT"
    "$PYMER_PYTHON" -c "import sys; print(sys.version)"
    find src pyproject.toml meson.build scripts/setup.sh scripts/system_packages.sh -type f \
      ! -name '*.so' ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 \
      | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -d' ' -f1
)"
if [ "${PYMER_REBUILD:-0}" != 1 ] && [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ] \
   && "$PYMER_PYTHON" -c "import pymer._core._pls" >/dev/null 2>&1; then
  say "pymer is up to date in $PYMER_VENV (use: scripts/py ...)"
  exit 0
fi
rm -f "$stamp_file"
say "building and installing pymer with its test extra into $PYMER_VENV (about 2 minutes)"
"$PYMER_PYTHON" -m pip install -q --disable-pip-version-check ".[test]"
echo "$stamp" > "$stamp_file"
say "done: run Python there with scripts/py (e.g. scripts/py examples/sleepstudy.py)"
