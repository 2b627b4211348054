#!/usr/bin/env bash
# The golden check: re-execute the golden notebooks (default tests/golden/*.ipynb) with nbval, comparing the
# words of the cells marked "# NBVAL_CHECK_OUTPUT" (numbers masked, stderr ignored), then compare each lab's
# fresh results.json with its reference under the tolerances its result keys declare (labkit/labs/).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/golden_env.sh
PY=${VENV:-.venv}/bin/python; [ -x "$PY" ] || PY=python3  # VENV: another environment (scripts/setup.sh)
if [ $# -eq 0 ]; then
  shopt -s nullglob
  set -- tests/golden/*.ipynb
  if [ $# -eq 0 ]; then
    echo "nbval: skipped, no golden notebooks in tests/golden yet (make them with: bash scripts/regen_golden.sh)"
    exit 0
  fi
fi
rm -rf tests/golden/labkit-out  # results.json must come from this run
GOLDEN_LABS=$(for nb in "$@"; do basename "$nb" .ipynb; done | tr '\n' ' ')
export GOLDEN_LABS  # the labs whose results compare_results.py checks
exec "$PY" -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env \
  --nbval-sanitize-with tests/nbval_sanitize.cfg "$@" tests/golden/compare_results.py
