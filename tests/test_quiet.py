"""``import labkit`` keeps TensorFlow's native log lines out of notebooks and scripts (``labkit.quiet``), while
Python's warnings and tracebacks, and every other line on stderr, still show."""

import os
import subprocess
import sys

import nbformat
import pytest

from labkit import quiet

NATIVE = [b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
          b"I0000 00:00:1796014187.638203    6000 cudart_stub.cc:31] Could not find cuda drivers",
          b"E0000 00:00:1796642631.759437    8006 cuda_platform.cc:52] failed call to cuInit"]
FATAL = b"F0000 00:00:1796642631.759437    8006 x.cc:1] a fatal native line"
WRITES = ("import os, sys, warnings\n"
          f"for line in {NATIVE + [FATAL]!r}:\n"
          "    os.write(2, line + b'\\n')\n"
          "os.write(2, b'I'); os.write(2, b'nfo from C, in two writes\\n')\n"
          "warnings.warn('a real warning')\n"
          "os.write(2, b''.join(b'real line %d\\n' % k for k in range(20000)))\n")


def _env(**kw) -> dict:
    return {**{k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}, **kw}


def native_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if quiet.NATIVE_LOG.match(line.encode())]


@pytest.fixture(autouse=True)
def _seed():
    """Overrides conftest's: TensorFlow loads in the child processes only."""


def test_a_script_that_imports_labkit_shows_no_native_line_but_everything_else():
    code = "import labkit\nimport tensorflow as tf\ntf.constant(1.0).numpy()\n" + WRITES + "1 / 0\n"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=_env())
    assert run.returncode == 1
    assert native_lines(run.stderr) == [FATAL.decode()], run.stderr  # the fatal one passes
    assert "Info from C, in two writes\n" in run.stderr and "UserWarning: a real warning" in run.stderr
    assert run.stderr.rstrip().endswith("ZeroDivisionError: division by zero")  # a traceback at exit too


def test_tf_cpp_min_log_level_0_shows_them_all():
    run = subprocess.run([sys.executable, "-c", "import labkit\n" + WRITES], capture_output=True, text=True,
                         timeout=60, env=_env(TF_CPP_MIN_LOG_LEVEL="0"))
    assert len(native_lines(run.stderr)) == len(NATIVE) + 1, run.stderr


def test_hidden_follows_the_log_level():
    assert [quiet.hidden(line, 3) for line in NATIVE + [FATAL]] == [True, True, True, False]
    assert [quiet.hidden(line, 2) for line in NATIVE + [FATAL]] == [True, True, False, False]
    assert not quiet.hidden(b"Info: I0000 is no native line", 3)


def test_an_executed_notebook_shows_no_native_line():
    """A kernel copies file descriptor 2 into the notebook: TensorFlow's start-up lines would open the lab."""
    from nbclient import NotebookClient

    cells = ["import labkit  # first, as in the labs", "from labkit import models\n"
             "model = models.load_model('efficientnet_lite0')\nprint(model.name)", WRITES, "print('done')"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    env = _env()
    NotebookClient(nb, kernel_name="python3", timeout=300, env=env).execute(env=env)
    outputs = [o for c in nb.cells for o in c.outputs]
    stderr = "".join(o.text for o in outputs if o.get("name") == "stderr")
    assert "efficientnet_lite0" in "".join(o.text for o in outputs if o.get("name") == "stdout")
    assert native_lines(stderr) == [FATAL.decode()], stderr
    assert "UserWarning: a real warning" in stderr and "Info from C, in two writes" in stderr
    own = "".join(o.text for o in nb.cells[2].outputs if o.get("name") == "stderr")  # each in its own cell
    assert "real line 0\n" in own and "real line 19999\n" in own
