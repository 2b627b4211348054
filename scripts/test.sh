#!/usr/bin/env bash
# The test command: the unit suite, then the nbval golden notebooks (scripts/nbval.sh; skipped while
# tests/golden holds none). Arguments go to the unit suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python; [ -x "$PY" ] || PY=python3
export TF_CPP_MIN_LOG_LEVEL=3
"$PY" -m pytest -q tests "$@"
bash scripts/nbval.sh
