#!/usr/bin/env bash
# Check the self-contained wheel that build_wheel.sh made:
#  1. `auditwheel show` names a manylinux tag and no external SuiteSparse library;
#  2. the wheel installs into a fresh virtual environment (pip fetches numpy, scipy,
#     pandas, nlopt from PyPI) and its compiled core loads libcholmod from the wheel's
#     own pymer.libs/, not from the system;
#  3. it fits sleepstudy and gives lme4's estimates.
#
#   bash scripts/build_wheel.sh && bash scripts/check_wheel.sh [WHEEL]
#
# The build takes about 2-3 minutes, this check about 1 minute (mostly pip).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
wheel="${1:-$(ls "$root"/dist/pymer-*manylinux*.whl 2>/dev/null | tail -1)}"
[ -f "$wheel" ] || { echo "check_wheel: no wheel: run scripts/build_wheel.sh first" >&2; exit 1; }
tools="$root/build/wheel/tools"
fail() { echo "check_wheel: FAILED: $*" >&2; exit 1; }

echo "check_wheel: $wheel" >&2
show="$("$tools/bin/auditwheel" show "$wheel")"
echo "$show"
echo "$show" | grep -q "manylinux_" || fail "auditwheel gives no manylinux tag"
# auditwheel show lists the libraries the wheel still needs from the system after
# "The following external shared libraries are required by the wheel:"
external="$(echo "$show" | sed -n '/external shared libraries are required/,$p')"
if echo "$external" | grep -qiE "cholmod|amd|colamd|camd|suitesparse|metis"; then
  fail "the wheel still needs the system's SuiteSparse"
fi
unzip -l "$wheel" | grep -q "pymer.libs/libcholmod" || fail "libcholmod is not vendored"

venv="$(mktemp -d)/venv"
trap 'rm -rf "$(dirname "$venv")"' EXIT
"${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check "$wheel"
cd "$(dirname "$venv")"                   # away from the checkout: import the installed pymer
"$venv/bin/python" - <<'PY'
import glob, os, subprocess
import pymer
import pymer._core._pls as pls

so = pls.__file__
assert "site-packages" in so, so
ldd = subprocess.run(["ldd", so], capture_output=True, text=True, check=True).stdout
cholmod = [line.split("=>")[1].split()[0] for line in ldd.splitlines() if "libcholmod" in line]
assert cholmod and "pymer.libs" in cholmod[0], ldd     # the wheel's own copy
print("libcholmod from", cholmod[0])

m = pymer.lmer("Reaction ~ Days + (Days | Subject)", data=pymer.datasets.load("sleepstudy"))
print(m.summary())
# lme4 1.1: fixef 251.405105, 10.467286; REML criterion 1743.628
assert abs(m.fixef["(Intercept)"] - 251.405105) < 1e-4, m.fixef
assert abs(m.fixef["Days"] - 10.467286) < 1e-4, m.fixef
assert abs(m.objective - 1743.628) < 1e-3, m.objective
print("check_wheel: OK: pymer", pymer.__version__, "from", os.path.dirname(pymer.__file__))
PY
