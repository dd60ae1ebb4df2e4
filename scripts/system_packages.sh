#!/usr/bin/env bash
# The system packages pymer's build needs, installed with apt-get where missing (as root,
# or through sudo): libsuitesparse-dev (CHOLMOD), libnlopt-dev (NLopt's C API), pkg-config, a C compiler, and for
# Debian's own python3 the venv module (python3-venv) and its headers (python3-dev).
# PYTHON=/path/to/python3 checks that Python instead of `python3` on PATH.
# Used by setup.sh and build_wheel.sh.
set -euo pipefail

say() { echo "setup: $*" >&2; }
die() { echo "setup: error: $*" >&2; exit 1; }

base_python="${PYTHON:-python3}"

is_system_python() {   # Debian's python3: python3-venv / python3-dev can fix what it lacks
  local exe
  exe="$(command -v "$base_python" 2>/dev/null)" || return 0   # none yet: apt installs it
  case "$(readlink -f "$exe")" in /usr/bin/*) return 0 ;; *) return 1 ;; esac
}
py_ok() { "$base_python" -c "$1" >/dev/null 2>&1; }

need=()
command -v "$base_python" >/dev/null 2>&1 || need+=(python3)
if command -v dpkg >/dev/null 2>&1; then
  dpkg -s libsuitesparse-dev >/dev/null 2>&1 || need+=(libsuitesparse-dev)
  dpkg -s libnlopt-dev >/dev/null 2>&1 || need+=(libnlopt-dev)
fi
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
if is_system_python; then
  if [ -z "${VIRTUAL_ENV:-}" ] && ! py_ok "import ensurepip, venv"; then need+=(python3-venv); fi
  py_ok "import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" \
    || need+=(python3-dev)
fi
if [ ${#need[@]} -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 \
    || die "this machine lacks ${need[*]} and has no apt-get: install them (or their equivalents) first"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "installing ${need[*]} needs root: run as root or install sudo"
    SUDO="sudo"
  fi
  say "installing system packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
