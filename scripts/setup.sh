#!/usr/bin/env bash
# Create .venv and install labkit with everything it needs (package registries only).
#   PYTHON=python3.13 bash scripts/setup.sh        # the interpreter (default python3)
#   VENV=.venv-3.13 PYTHON=python3.13 bash ...     # another environment folder (default .venv)
# The interpreter is checked against pyproject.toml's requires-python before anything is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
[ -x "$VENV/bin/python" ] && PY="$VENV/bin/python"  # an existing environment keeps its interpreter
supported() {  # "3.11" ... from requires-python = ">=3.11,<3.14"; needs no package
  "$1" - <<'PYTHON'
import re, sys
spec = re.search(r'requires-python\s*=\s*">=3\.(\d+),\s*<3\.(\d+)"', open("pyproject.toml").read())
low, high = int(spec.group(1)), int(spec.group(2))
print(" ".join(f"3.{m}" for m in range(low, high)))
sys.exit(0 if sys.version_info[0] == 3 and low <= sys.version_info[1] < high else 1)
PYTHON
}
if ! versions=$(supported "$PY" 2>/dev/null); then
  have=$("$PY" -c 'import sys; print("Python %d.%d" % sys.version_info[:2])' 2>/dev/null || echo "not found")
  [ -n "$versions" ] || versions="3.11 3.12 3.13"
  found=""
  for v in $versions; do  # interpreters that run (a pyenv shim of a version not selected does not)
    for cand in "python$v" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/"python$v"; do
      supported "$cand" >/dev/null 2>&1 && { found="$found $cand"; break; }
    done
  done
  echo "setup: labkit needs Python ${versions// /, } (pyproject.toml); $PY is $have." >&2
  if [ -n "$found" ]; then
    echo "setup: found on this machine:$found; run: PYTHON=${found##* } bash scripts/setup.sh" >&2
  else
    echo "setup: install one (python.org, your package manager, pyenv or uv), then: PYTHON=python3.12 bash scripts/setup.sh" >&2
  fi
  [ -x "$VENV/bin/python" ] && echo "setup: $VENV was made with $have: remove it (rm -rf $VENV) and run again" >&2
  exit 2
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -r requirements.txt
"$VENV/bin/python" -m pip install -q --no-deps -e .
"$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
echo "labkit installed in $VENV ($("$VENV/bin/python" -c 'import sys, labkit; print(f"labkit {labkit.__version__}, Python {sys.version.split()[0]}")'))"
