#!/usr/bin/env bash
# The test command: the unit suite; the nbval golden notebooks (scripts/nbval.sh); a student's session with a
# released lab, in a kernel and in JupyterLab (tests/test_student_session.py: the browser test needs Chromium and
# playwright, see there); the four labs released, filled in and graded end to end (tests/test_labs_graded.py: the
# unfilled student notebooks run headless too); then lab 4 through otter-grader and nbgrader, the real tools in
# venvs of their own (scripts/grading_tools.sh installs them once; tests/test_external_graders.py). Arguments go to
# the unit suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${VENV:-.venv}/bin/python; [ -x "$PY" ] || PY=python3  # VENV: another environment (scripts/setup.sh)
export TF_CPP_MIN_LOG_LEVEL=3
"$PY" -m pytest -q tests "$@"
bash scripts/nbval.sh
"$PY" -m pytest -q -m student_session tests/test_student_session.py
"$PY" -m pytest -q -m graded_labs tests/test_labs_graded.py
bash scripts/grading_tools.sh
"$PY" -m pytest -q -m external_graders tests/test_external_graders.py
