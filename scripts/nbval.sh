#!/usr/bin/env bash
# nbval regression: re-execute the golden notebooks (default tests/golden/*.ipynb) and compare the outputs
# of the cells marked "# NBVAL_CHECK_OUTPUT" (stderr ignored, addresses/timings/paths sanitized).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/golden_env.sh
PY=.venv/bin/python; [ -x "$PY" ] || PY=python3
if [ $# -eq 0 ]; then
  shopt -s nullglob
  set -- tests/golden/*.ipynb
  if [ $# -eq 0 ]; then
    echo "nbval: skipped, no golden notebooks in tests/golden yet (make them with: bash scripts/regen_golden.sh)"
    exit 0
  fi
fi
exec "$PY" -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env \
  --nbval-sanitize-with tests/nbval_sanitize.cfg "$@"
