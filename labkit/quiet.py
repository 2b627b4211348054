"""TensorFlow's native log lines kept out of notebooks and terminals; everything else on stderr passes.

TensorFlow's C++ code writes a few lines to the process's stderr (file descriptor 2) before it has read
``TF_CPP_MIN_LOG_LEVEL``, so the variable cannot hold them back (TensorFlow 2.21: "WARNING: All log messages before
absl::InitializeLog() ...", "I0000 00:00:... port.cc:153] oneDNN custom operations are on ...", "I0000 ...
cudart_stub.cc:31] Could not find cuda drivers ..."). A Jupyter kernel copies descriptor 2 into the notebook, so
they would open every lab in a red box. ``import labkit`` calls :func:`filter_native_logs`: a pipe on descriptor 2
and a thread that passes everything on except the native lines ``TF_CPP_MIN_LOG_LEVEL`` would hide (labkit sets it
to 3: INFO, WARNING and ERROR lines; FATAL ones always pass). Python's warnings and tracebacks pass, and so does any
other line. In a Jupyter kernel the lines go to the notebook's stderr, each in the cell that wrote it (the pipe is
drained after every cell). No maintained package filters a file descriptor, and absl has no switch for these
lines: hence this module.

``TF_CPP_MIN_LOG_LEVEL=0`` (set before ``import labkit``) shows them all, and no filter is installed. While the
filter is on, descriptor 2 is a pipe, not a terminal, and a native line written just before the process aborts
(a fatal C++ error) can be lost: ``TF_CPP_MIN_LOG_LEVEL=0`` shows it.
"""

from __future__ import annotations

import atexit
import itertools
import os
import re
import sys
import threading
from collections.abc import Callable

__all__ = ["INPUT_STRUCTURE_WARNING", "NATIVE_LOG", "drain", "filter_native_logs", "hidden", "ignore_harmless_warnings"]

# Keras warns when a one-input model is called on a plain tensor or a list (tf-keras-vis and students' code do)
INPUT_STRUCTURE_WARNING = "The structure of `inputs` doesn't match"

# absl's line format (severity letter, MMDD, time), and the warning absl prints before it is initialised
NATIVE_LOG = re.compile(rb"^(?:(WARNING): All log messages before absl::InitializeLog\(\)"
                        rb"|([IWEF])\d{4} \d\d:\d\d:\d\d)")
_SEVERITY = {b"WARNING": 1, b"I": 0, b"W": 1, b"E": 2, b"F": 3}  # TF_CPP_MIN_LOG_LEVEL's scale
_ABSL_WARNING = b"WARNING: All log messages before absl::InitializeLog()"
_PREFIX = re.compile(rb"[IWEF]\d{0,4}(?: [\d:.]*)?")  # what a native line's first bytes can be
_MARK = re.compile(rb"\0labkit\.quiet:(\d{8})\0")  # in the pipe: everything before it has been passed on
_MARK_START = b"\0labkit.quiet:"
_STOP = 99999999  # the mark written at exit
DRAIN_SECONDS = 5.0  # the longest wait for the thread to pass on what is in the pipe


def _level() -> int:
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def hidden(line: bytes, level: int | None = None) -> bool:
    """Whether ``line`` is a native TensorFlow log line that ``TF_CPP_MIN_LOG_LEVEL`` (``level``) would hide."""
    m = NATIVE_LOG.match(line)
    return bool(m) and _SEVERITY[m.group(1) or m.group(2)] < (_level() if level is None else level)


def _held(tail: bytes, mid_line: bool) -> int:
    """Where the part of an unfinished line to hold back begins (``len(tail)``: none): a line start that may be a
    native line's, or a mark that the pipe cut in two."""
    if not mid_line and len(tail) < 64 and (_ABSL_WARNING.startswith(tail) or _PREFIX.fullmatch(tail)):
        return 0
    cut = tail.rfind(b"\0")
    rest, n = tail[cut:], len(_MARK_START)
    if cut >= 0 and (_MARK_START.startswith(rest) or rest[:n] == _MARK_START and rest[n:].isdigit()):
        return cut
    return len(tail)


class _Forwarder:
    """The thread's side: bytes from the pipe ``read`` to ``out``, less the hidden native lines; marks counted."""

    def __init__(self, read: int, out: Callable[[bytes], None], level: int):
        self.read, self.out, self.level = read, out, level
        self.pending = b""  # read, not yet passed on: the start of a line that may be a native one
        self.mid_line = False  # the line being written began with bytes already passed on
        self.passed = -1  # the last mark passed
        self.cond = threading.Condition()

    def run(self) -> None:
        while True:
            try:
                chunk = os.read(self.read, 1 << 16)
            except OSError:
                chunk = b""
            parts = _MARK.split(self.pending + chunk)  # text, mark, text, mark, ..., text
            self.pending = b""
            for k in range(0, len(parts) - 1, 2):
                self._pass(parts[k], hold=False)
                with self.cond:
                    self.passed = int(parts[k + 1])
                    self.cond.notify_all()
                if self.passed == _STOP:
                    return
            self._pass(parts[-1], hold=bool(chunk))
            if not chunk:
                return

    def _pass(self, text: bytes, hold: bool) -> None:
        *lines, tail = text.split(b"\n")
        kept = []
        for line in lines:
            if self.mid_line or not hidden(line, self.level):
                kept.append(line + b"\n")
            self.mid_line = False
        cut = _held(tail, self.mid_line) if hold else len(tail)
        self.pending = tail[cut:]
        if tail[:cut]:
            kept.append(tail[:cut])
            self.mid_line = True
        if kept:
            try:
                self.out(b"".join(kept))
            except (OSError, ValueError):  # the other end is gone: nowhere to pass it
                pass


_STATE: dict = {}
_MARKS = itertools.count(1)


def _write(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def _notebook_stderr() -> Callable[[bytes], None] | None:
    """In a Jupyter kernel: a writer to the notebook's stderr (the kernel's own copy of descriptor 2 would show
    it a cell late); and the pipe drained after every cell."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return None
    shell.events.register("post_execute", drain)
    stream = sys.stderr
    return lambda data: (stream.write(data.decode(errors="replace")), stream.flush())


def filter_native_logs() -> bool:
    """Filter this process's descriptor 2 (see the module's docstring), once; False where nothing is filtered
    (``TF_CPP_MIN_LOG_LEVEL`` 0, or no descriptor 2)."""
    level = _level()
    if _STATE or level <= 0:
        return bool(_STATE)
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        read, write = os.pipe()
        os.dup2(write, 2)  # the pipe on descriptor 2, inherited by child processes; ``write`` stays for the marks
    except (OSError, AttributeError, ValueError):  # no descriptor 2 (an embedding host)
        return False
    out = _notebook_stderr() or (lambda data: _write(saved, data))
    forwarder = _Forwarder(read, out, level)
    thread = threading.Thread(target=forwarder.run, name="labkit.quiet", daemon=True)
    thread.start()
    _STATE.update(saved=saved, write=write, forwarder=forwarder, thread=thread)
    atexit.register(_stop)
    return True


def drain(*_, mark: int | None = None) -> None:
    """Wait until everything written to descriptor 2 so far has been passed on (at most ``DRAIN_SECONDS``)."""
    if not _STATE or not _STATE["thread"].is_alive():
        return
    mark = next(_MARKS) if mark is None else mark
    forwarder = _STATE["forwarder"]
    try:
        sys.stderr.flush()
        _write(_STATE["write"], b"\0labkit.quiet:%08d\0" % mark)
    except (OSError, ValueError):
        return
    with forwarder.cond:
        forwarder.cond.wait_for(lambda: forwarder.passed >= mark, DRAIN_SECONDS)


def _stop() -> None:
    """At exit: descriptor 2 back where it was (unless someone else, pytest's capture, has put their own file
    there since), and what is still in the pipe passed on."""
    try:
        sys.stderr.flush()
        if os.path.samestat(os.fstat(2), os.fstat(_STATE["write"])):
            os.dup2(_STATE["saved"], 2)
    except (OSError, ValueError):
        pass
    drain(mark=_STOP)


def ignore_harmless_warnings() -> None:
    """Python warnings a lab's code meets and cannot act on: Keras warns when a one-input model is called on a
    plain tensor (tf-keras-vis and the students' code do)."""
    import warnings

    warnings.filterwarnings("ignore", message=INPUT_STRUCTURE_WARNING)
