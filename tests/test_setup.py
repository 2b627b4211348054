"""scripts/setup.sh checks the interpreter against pyproject.toml's requires-python before anything is
downloaded, and names one to use."""

import glob
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OLD = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.10*/bin/python3.10")))  # where one is installed


@pytest.fixture(autouse=True)
def _seed():
    """Overrides conftest's: nothing here needs Keras."""


@pytest.mark.parametrize("python", ["nosuch-python", *OLD[:1]])
def test_an_unsupported_interpreter_stops_setup_before_anything_is_installed(python, tmp_path):
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # this interpreter's python3.X first
    env = {**os.environ, "PATH": path, "PYTHON": python, "VENV": str(tmp_path / "venv")}
    run = subprocess.run(["bash", "scripts/setup.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "setup: labkit needs Python 3.11, 3.12, 3.13 (pyproject.toml)" in run.stderr
    assert f"{python} is {'not found' if python.startswith('nosuch') else 'Python 3.10'}" in run.stderr
    assert "run: PYTHON=3." in run.stderr  # this interpreter, at least, is one to use
    assert not (tmp_path / "venv").exists() and run.stdout == ""


def test_requires_python_holds_this_interpreter():
    import tomllib

    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert spec == ">=3.11,<3.14" and (3, 11) <= sys.version_info[:2] < (3, 14)
