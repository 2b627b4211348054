#!/usr/bin/env bash
# Create .venv and install labkit with everything it needs (package registries only).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements.txt
.venv/bin/python -m pip install -q --no-deps -e .
.venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
echo "labkit installed in .venv ($(.venv/bin/python -c 'import labkit; print(labkit.__version__)'))"
