"""One notebook executor for ``labkit run`` and ``labkit grade``, with one vocabulary for how a run ended.

Papermill executes a notebook; this adds what both commands need around it: a check that the file is a
notebook at all, a deadline for the whole notebook (nbclient's per-cell ``timeout_func`` counting one
deadline down) besides the per-cell timeout, progress callbacks, a quiet kernel, papermill's error banner on
a notebook stopped from outside, and atomic output (a partial notebook never lies where the result belongs).
"""

from __future__ import annotations

import math
import os
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

STATUSES = {
    "ok": "ran to its end",
    "failed": "a cell raised an error",
    "timeout": "stopped at its time limit",
    "killed": "the kernel died or ran out of memory",
    "invalid": "not a readable notebook",
    "rejected": "not run: a bad parameter, lab or output folder",
}


@dataclass
class Execution:
    """How one notebook run ended: a ``STATUSES`` word, a one-line message, the time it took, and the executed
    notebook where one was written (a failed one keeps papermill's error banner)."""

    status: str
    message: str = ""
    seconds: float = 0.0
    notebook: Path | None = None


def check_notebook(path: str | os.PathLike) -> str:
    """``""`` when ``path`` is a valid notebook, else why not (one line)."""
    import nbformat

    try:
        nbformat.validate(nbformat.read(path, as_version=4))
    except Exception as exc:  # not JSON, not a notebook, wrong schema
        return f"invalid notebook: {str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__}"
    return ""


def execute(src: str | os.PathLike, dst: str | os.PathLike, parameters: Mapping[str, object] | None = None, *,
            cwd: str | os.PathLike | None = None, timeout: float | None = None, cell_timeout: float | None = None,
            on_cell: Callable[[int, int], None] | None = None) -> Execution:
    """Execute notebook ``src`` with papermill into ``dst``; never raises for the notebook's own failure.

    ``timeout``: seconds for the whole notebook; ``cell_timeout``: seconds per cell; ``on_cell(index, done)``
    is called as each cell starts. Ctrl-C leaves no partial notebook behind and is raised again.
    """
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    start = time.monotonic()
    dst = Path(dst)
    invalid = check_notebook(src)
    if invalid:
        return Execution("invalid", invalid, time.monotonic() - start)
    tmp = dst.with_name(f".{dst.stem}.partial{os.getpid()}.ipynb")
    deadline = start + timeout if timeout else None
    state = {"index": None, "done": 0}
    engine = _engine(state, deadline, cell_timeout, on_cell)
    status, message = "ok", ""
    try:
        papermill.execute_notebook(str(src), str(tmp), parameters=dict(parameters or {}),
                                   cwd=None if cwd is None else str(cwd), progress_bar=False, log_output=False,
                                   **engine)
    except PapermillExecutionError as exc:
        status = "killed" if exc.ename == "MemoryError" else "failed"
        message = f"{exc.ename}: {exc.evalue}"
    except CellTimeoutError:
        limit = timeout if deadline is not None and time.monotonic() >= deadline - 1 else cell_timeout
        status, message = "timeout", f"stopped after {limit:g} s"
        _mark_stopped(tmp, state["index"], "TimeoutError", message)
    except DeadKernelError:
        status, message = "killed", "the kernel died (out of memory?)"
        _mark_stopped(tmp, state["index"], "DeadKernelError", message)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        status, message = "failed", f"{type(exc).__name__}: {exc}"
    written = None
    if tmp.exists():
        os.replace(tmp, dst)
        written = dst
    return Execution(status, _first_line(message), time.monotonic() - start, written)


def _engine(state: dict, deadline: float | None, cell_timeout: float | None, on_cell) -> dict:
    """papermill's engine options: cell callbacks that keep ``state`` (the running cell, cells done), the
    time limits, and a quiet kernel that is killed at once when stopped."""

    def started(cell, cell_index, **_):
        state["index"] = cell_index
        if on_cell is not None:
            on_cell(cell_index, state["done"])

    def finished(cell, cell_index, **_):
        state["done"] += 1

    # immediate: a stopped kernel is killed at once, instead of a graceful shutdown it cannot answer;
    # log level ERROR: ipykernel 7 warns on every start that its local TCP sockets are not encrypted
    engine = {"on_cell_start": started, "on_cell_executed": finished, "shutdown_kernel": "immediate",
              "extra_arguments": ["--IPKernelApp.log_level=ERROR"], "kernel_manager_class": _quiet_kernels()}
    if deadline is not None:  # one deadline for the notebook, counted down cell by cell
        engine["timeout_func"] = lambda cell: max(1, math.ceil(min(deadline - time.monotonic(),
                                                                   cell_timeout or math.inf)))
    elif cell_timeout:
        engine["execution_timeout"] = cell_timeout
    return engine


def _mark_stopped(path: Path, cell_index: int | None, ename: str, evalue: str) -> None:
    """Give a notebook that was stopped from outside (timeout, dead kernel) papermill's error banner."""
    import nbformat
    from papermill.exceptions import PapermillExecutionError
    from papermill.execute import raise_for_execution_errors

    if not path.exists():
        return
    nb = nbformat.read(path, as_version=4)
    if cell_index is not None and cell_index < len(nb.cells):
        cell = nb.cells[cell_index]
        cell["outputs"] = [o for o in cell.get("outputs", []) if o.get("ename") != "KeyboardInterrupt"]
        cell["outputs"].append(nbformat.v4.new_output("error", ename=ename, evalue=evalue,
                                                      traceback=[f"{ename}: {evalue}"]))
    try:
        raise_for_execution_errors(nb, str(path))  # papermill's own banner, then it raises
    except PapermillExecutionError:
        pass


def _quiet_kernels() -> type:
    """A kernel manager whose kernels' own stdout/stderr go nowhere (as nbval's do): ipykernel captures C-level
    output (TensorFlow's log lines) into the notebook and would also echo it to the terminal."""
    from jupyter_client.manager import AsyncKernelManager

    class QuietKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw):
            kw.setdefault("stdout", subprocess.DEVNULL)
            kw.setdefault("stderr", subprocess.DEVNULL)
            return await super().start_kernel(**kw)

    return QuietKernelManager


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."
