#!/usr/bin/env bash
# Set up scarce in .venv (repo root) on a machine that has python3 and pip.
#   scripts/setup.sh          the package with every encoder and the demo data
#   scripts/setup.sh --test   also the test tools and the Debian data sets the tests read
set -euo pipefail
cd "$(dirname "$0")/.."
test_mode=0
[ "${1:-}" = "--test" ] && test_mode=1

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(pip_quiet)
pip_quiet() {
  # pip's notes about unreachable mirror folders are noise on some machines; errors still show
  .venv/bin/python -m pip install -q --disable-pip-version-check "$@" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

# The CPU build of torch, never the multi-GB CUDA one: a local 2.13.0+cpu wheel when the
# configured index has one (PyPI's plain 2.13.0 would be the CUDA build), else PyTorch's CPU
# wheel index.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  "${PIP[@]}" "torch==2.13.0+cpu" 2>/dev/null \
    || "${PIP[@]}" torch --index-url https://download.pytorch.org/whl/cpu
fi

if [ "$test_mode" = 1 ]; then
  "${PIP[@]}" -e ".[all,demo,dev]"
  need=()
  [ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
  [ -f /usr/share/games/fortunes/science.u8 ] || need+=(fortunes fortunes-min)
  [ -x /usr/bin/chromium ] || need+=(chromium)  # the report is checked in a real browser
  if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get install -y -q "${need[@]}" >/dev/null \
      || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q "${need[@]}" >/dev/null; }
  fi
else
  "${PIP[@]}" -e ".[all,demo]"
fi
echo "scarce is installed in .venv: run .venv/bin/scarce --help"
