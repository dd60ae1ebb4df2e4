#!/usr/bin/env bash
# Set up pymer on a fresh Debian/Ubuntu machine: system libraries, then the package.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
dpkg -s libsuitesparse-dev >/dev/null 2>&1 || need+=(libsuitesparse-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check ".[test]"
