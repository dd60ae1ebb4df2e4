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
# The build takes about 3 minutes (10 on a busy machine), this check 2-3 minutes (mostly
# pip installing numpy, scipy and pandas).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
wheel="${1:-$(ls "$root"/dist/pymer-*manylinux*.whl 2>/dev/null | tail -1)}"
[ -f "$wheel" ] || { echo "check_wheel: no wheel: run scripts/build_wheel.sh first" >&2; exit 1; }
tools="$root/build/wheel/tools"
fail() { echo "check_wheel: FAILED: $*" >&2; exit 1; }

echo "check_wheel: $wheel" >&2
"$tools/bin/auditwheel" show "$wheel"
# the same as JSON: the wheel's tag and the libraries it still needs from the system
"$tools/bin/auditwheel" show --json "$wheel" 2>/dev/null | "$tools/bin/python" -c '
import json, re, sys
show = json.load(sys.stdin)
tag, external = show["overall_tag"], show["external_libs"]
print(f"check_wheel: tag {tag}; external libraries: {sorted(external) or None}")
if not tag.startswith("manylinux_"):
    sys.exit(f"check_wheel: FAILED: the wheel is {tag}, not manylinux")
suitesparse = [lib for lib in external
               if re.match(r"lib(cholmod|amd|camd|colamd|ccolamd|suitesparseconfig|metis)\.", lib)]
if suitesparse:
    sys.exit(f"check_wheel: FAILED: the wheel needs the system SuiteSparse: {suitesparse}")
'
# CHOLMOD inside, with the licences of what was vendored and the wheel's licence
"$tools/bin/python" - "$wheel" <<'PY' || fail "the wheel lacks vendored libraries or their licences"
import re, sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
meta = zipfile.ZipFile(sys.argv[1]).read(next(n for n in names if n.endswith(".dist-info/METADATA")))
assert any(re.search(r"pymer\.libs/libcholmod-", n) for n in names), "no libcholmod"
assert any(n.endswith("licenses/vendored/libcholmod3.copyright") for n in names), "no CHOLMOD licence"
assert b"License-Expression: GPL-3.0-or-later" in meta, "licence not GPL-3.0-or-later"
PY

venv="$(mktemp -d)/venv"
trap 'rm -rf "$(dirname "$venv")"' EXIT
"${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check "$wheel"
cd "$(dirname "$venv")"                   # away from the checkout: import the installed pymer
"$venv/bin/python" - <<'PY'
import glob, os, subprocess
import pymer
import pymer._core._pls as pls

assert "site-packages" in pls.__file__, pls.__file__
# every library the compiled core loads is the wheel's own copy, except the C runtime's
system = ("linux-vdso", "ld-linux", "libc.so", "libm.so", "libgcc_s.so", "libpthread.so", "libdl.so")
for so in glob.glob(os.path.join(os.path.dirname(pls.__file__), "*.so")):
    ldd = subprocess.run(["ldd", so], capture_output=True, text=True, check=True).stdout
    assert "not found" not in ldd, ldd
    for line in ldd.split("\n"):
        parts = line.split()                 # "libx.so.1 => /path/libx.so.1 (0x...)" or "/path/ld.so (0x...)"
        if not parts:
            continue
        name = os.path.basename(parts[0])
        where = parts[2] if len(parts) > 2 and parts[1] == "=>" else parts[0]
        if not name.startswith(system):
            assert "pymer.libs" in where, f"{os.path.basename(so)} loads {name} from {where}"
    print(os.path.basename(so), "loads", ldd.count("pymer.libs"), "libraries from pymer.libs")

m = pymer.lmer("Reaction ~ Days + (Days | Subject)", data=pymer.datasets.load("sleepstudy"))
print(m.summary())
# lme4 1.1: fixef 251.405105, 10.467286; REML criterion 1743.628
assert abs(m.fixef["(Intercept)"] - 251.405105) < 1e-4, m.fixef
assert abs(m.fixef["Days"] - 10.467286) < 1e-4, m.fixef
assert abs(m.objective - 1743.628) < 1e-3, m.objective
print("check_wheel: OK: pymer", pymer.__version__, "from", os.path.dirname(pymer.__file__))
PY
