# Sourced by setup.sh and py: the one rule for which Python environment pymer lives in.
# An active virtual environment (VIRTUAL_ENV) wins; otherwise .venv in the checkout.
PYMER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${VIRTUAL_ENV:-}" ]; then
  PYMER_VENV="$VIRTUAL_ENV"
else
  PYMER_VENV="$PYMER_ROOT/.venv"
fi
PYMER_PYTHON="$PYMER_VENV/bin/python"
