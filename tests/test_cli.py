"""The command line: as quiet as the notebooks (no TensorFlow native log lines: tests/test_quiet.py), and errors
early."""

import subprocess
import sys

from labkit import quiet


def test_classify_prints_no_native_log_lines_and_its_answer():
    run = subprocess.run([sys.executable, "-m", "labkit", "classify", "chelsea"], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert "chelsea: Egyptian cat (285)" in run.stdout
    assert not [line for line in run.stderr.splitlines() if quiet.NATIVE_LOG.match(line.encode())], run.stderr


def test_a_missing_photo_fails_before_tensorflow_loads():
    run = subprocess.run([sys.executable, "-m", "labkit", "classify", "nosuchphoto"], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 2 and run.stderr.startswith("labkit: error: image not found: 'nosuchphoto'")
    assert "TensorFlow" not in run.stdout
