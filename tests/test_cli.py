"""The command line: as quiet as the notebooks (no TensorFlow native log lines), and errors early."""

import subprocess
import sys

from labkit import cli


def test_classify_prints_no_native_log_lines_and_its_answer():
    run = subprocess.run([sys.executable, "-m", "labkit", "classify", "chelsea"], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert "chelsea: Egyptian cat (285)" in run.stdout
    assert not [line for line in run.stderr.splitlines() if cli.NATIVE_LOG.match(line.encode())], run.stderr


def test_the_filter_drops_native_lines_and_keeps_the_rest():
    code = ("import os, sys; from labkit.cli import native_logs_filtered\n"
            "with native_logs_filtered():\n"
            "    os.write(2, b'I0000 00:00:1796014187.638203 6000 cudart_stub.cc:31] Could not find cuda drivers\\n')\n"
            "    os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are written\\n')\n"
            "    print('a real error', file=sys.stderr)\n"
            "print('after', file=sys.stderr)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stderr == "a real error\nafter\n", run.stderr


def test_a_missing_photo_fails_before_tensorflow_loads():
    run = subprocess.run([sys.executable, "-m", "labkit", "classify", "nosuchphoto"], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 2 and run.stderr.startswith("labkit: error: image not found: 'nosuchphoto'")
    assert "TensorFlow" not in run.stdout
