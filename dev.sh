#!/usr/bin/env bash
# StrikeIQ developer entry point.
#   ./dev.sh run    set up .venv and start the dashboard (SQLite file + built-in simulator)
#   ./dev.sh test   set up .venv, lint and format-check (ruff), type-check core/ (mypy) and run the whole test suite
#   ./dev.sh setup  only set up .venv (runtime + test dependencies)
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3}"
VENV=".venv"
# Keep Python's bytecode cache even where the environment turns it off: otherwise every server,
# CLI and pool process the suite starts recompiles the project, and every test worker re-rewrites
# every test module's asserts on every run (collection 14 s instead of 5 s per worker).
unset PYTHONDONTWRITEBYTECODE

setup() {
  local reqs="$1"
  if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
  fi
  local stamp="$VENV/.installed-$(cat requirements.txt "$reqs" pyproject.toml | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -r "$reqs"
    "$VENV/bin/python" -m pip install --quiet --no-deps -e .
    touch "$stamp"
  fi
}

case "${1:-run}" in
  run)
    setup requirements.txt
    shift || true
    # The demo: the simulator's scripted scenarios at 2x, so every engine fires within minutes.
    export STRIKEIQ_SCENARIO="${STRIKEIQ_SCENARIO:-demo}" STRIKEIQ_SPEED="${STRIKEIQ_SPEED:-2}"
    exec "$VENV/bin/python" -m streamlit run app/main.py "$@"
    ;;
  test)
    setup requirements-dev.txt
    shift || true
    "$VENV/bin/python" -m ruff check --quiet .
    "$VENV/bin/python" -m ruff format --check --quiet .
    "$VENV/bin/python" -m mypy --no-error-summary  # strict on core/ ([tool.mypy] in pyproject.toml)
    # pytest-xdist: one worker per core plus one, which overlaps the tests that wait on sockets,
    # servers and browsers; more workers only time-slice the CPU-bound simulations and cost CPU
    # (2 cores: 2 workers 695 s, 3 workers 638 s, 4 workers 697-709 s). worksteal rebalances.
    exec "$VENV/bin/python" -m pytest -q -n "${STRIKEIQ_TEST_WORKERS:-$(($(nproc) + 1))}" --dist worksteal "$@"
    ;;
  setup)
    setup requirements-dev.txt
    ;;
  *)
    echo "usage: ./dev.sh run|test|setup" >&2
    exit 2
    ;;
esac
