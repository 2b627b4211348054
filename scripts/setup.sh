#!/usr/bin/env bash
# Create .venv and install labkit with everything it needs (package registries only).
#   PYTHON=python3.13 bash scripts/setup.sh          # the interpreter (default python3), or just a version:
#   PYTHON=3.13 VENV=.venv-3.13 bash scripts/setup.sh  # python3.13 or pyenv's 3.13, in another environment folder
# The interpreter is checked against pyproject.toml's requires-python before anything is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
supported() {  # prints the supported versions ("3.11 3.12 3.13", from requires-python); fails for another Python
  "$1" - <<'PYTHON'
import re, sys
spec = re.search(r'requires-python\s*=\s*">=3\.(\d+),\s*<3\.(\d+)"', open("pyproject.toml").read())
low, high = int(spec.group(1)), int(spec.group(2))
print(" ".join(f"3.{m}" for m in range(low, high)))
sys.exit(0 if sys.version_info[0] == 3 and low <= sys.version_info[1] < high else 1)
PYTHON
}
find_python() {  # python3.X on the PATH, else pyenv's 3.X: the first that runs (a pyenv shim may not)
  for cand in "python$1" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/"python$1"; do
    supported "$cand" >/dev/null 2>&1 && { echo "$cand"; return 0; }
  done
  return 1
}
if [[ $PY =~ ^3\.[0-9]+$ ]]; then
  PY=$(find_python "$PY") || PY="python${PYTHON}"
fi
[ -x "$VENV/bin/python" ] && PY="$VENV/bin/python"  # an existing environment keeps its interpreter
if ! versions=$(supported "$PY" 2>/dev/null); then
  have=$("$PY" -c 'import sys; print("Python %d.%d" % sys.version_info[:2])' 2>/dev/null || echo "not found")
  [ -n "$versions" ] || versions="3.11 3.12 3.13"
  found="" newest=""
  for v in $versions; do
    cand=$(find_python "$v") && { found="$found, $v ($cand)"; newest=$v; }
  done
  echo "setup: labkit needs Python ${versions// /, } (pyproject.toml); $PY is $have." >&2
  if [ -n "$found" ]; then
    echo "setup: found on this machine: ${found#, }; run: PYTHON=$newest bash scripts/setup.sh" >&2
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
