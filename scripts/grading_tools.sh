#!/usr/bin/env bash
# otter-grader and nbgrader (what instructors may already grade with), each in a venv of its own: .venv-otter and
# .venv-nbgrader, from the package registry; and the Jupyter kernel each runs a lab in: labkit's .venv python,
# a kernelspec "python3" in .venv-<tool>/labkit-kernel/kernels/ (JUPYTER_PATH=.venv-<tool>/labkit-kernel).
# otter's tests run in that kernel and import otter: its kernel appends .venv-otter's packages to sys.path after
# labkit's own (as a grading image with both installed). Does nothing for a tool already installed at its version.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LABKIT_PY="$PWD/.venv/bin/python"
[ -x "$LABKIT_PY" ] || { echo "no .venv: run bash scripts/setup.sh first" >&2; exit 1; }

install() {  # venv, pip requirement (name==version)
    local venv=$1 req=$2 version=${2#*==}
    if [ "$("$venv/bin/python" -c "import importlib.metadata as m; print(m.version('${req%%==*}'))" 2>/dev/null)" \
         != "$version" ]; then
        [ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"
        "$venv/bin/python" -m pip install -q --upgrade pip
        "$venv/bin/python" -m pip install -q "$req"
        "$venv/bin/python" -c "import importlib.metadata as m; assert m.version('${req%%==*}') == '$version'"
    fi
}

kernel() {  # venv, extra site-packages to append (or "")
    local venv=$1 extra=$2
    mkdir -p "$venv/labkit-kernel/kernels/python3"
    "$LABKIT_PY" - "$venv/labkit-kernel/kernels/python3/kernel.json" "$LABKIT_PY" "$extra" <<'EOF'
import json, sys
path, python, extra = sys.argv[1:4]
start = "from ipykernel.kernelapp import launch_new_instance; launch_new_instance()"
if extra:
    start = f"import sys; sys.path.append({extra!r}); " + start
json.dump({"argv": [python, "-c", start, "-f", "{connection_file}"], "language": "python",
           "display_name": "labkit" + (" (otter-grader appended)" if extra else ""),
           "env": {"TF_CPP_MIN_LOG_LEVEL": "3"}}, open(path, "w"), indent=1)
EOF
}

install .venv-otter otter-grader==7.0.0
install .venv-nbgrader nbgrader==0.9.6
kernel .venv-otter "$(.venv-otter/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
kernel .venv-nbgrader ""
echo "otter-grader $(.venv-otter/bin/python -c 'import otter; print(otter.__version__)') in .venv-otter," \
     "nbgrader $(.venv-nbgrader/bin/python -c 'import nbgrader; print(nbgrader.__version__)') in .venv-nbgrader"
