"""One notebook executor for ``labkit run`` and ``labkit grade``, with one vocabulary for how a run ended.

Papermill executes a notebook; this adds what both commands need around it: a check that the file is a
notebook at all, a deadline for the whole notebook (nbclient's per-cell ``timeout_func`` counting one
deadline down) besides the per-cell timeout, progress callbacks, a quiet kernel, papermill's error banner on
a notebook stopped from outside, and atomic output (a partial notebook never lies where the result belongs).

``keep_going`` (grading): every cell runs even after one raised, a cell over its time limit is interrupted and the
next one runs, and once the notebook's deadline has passed its remaining cells are skipped.

``python -m labkit.execute NOTEBOOK EXECUTED --cwd DIR --cell-timeout S [--timeout S] [--keep-going]
--parameters JSON`` runs one notebook (the grader's sandboxed child), its outputs capped as it runs; its exit
code says how it ended (``EXIT_CODES``).
"""

from __future__ import annotations

import functools
import math
import os
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

SKIPPED = "skip-execution"  # nbclient's tag of cells not to run: given to the cells after the deadline (keep_going)
INTERRUPT_GRACE = 10  # seconds an interrupted cell has to stop before the run gives up on it (keep_going)

EXIT_CODES = {"ok": 0, "failed": 10, "timeout": 11, "killed": 12, "invalid": 13}  # python -m labkit.execute
EXIT_STATUS = {code: status for status, code in EXIT_CODES.items()}

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
            on_cell: Callable[[int, int], None] | None = None, keep_going: bool = False,
            capped: bool = False) -> Execution:
    """Execute notebook ``src`` with papermill into ``dst``; never raises for the notebook's own failure.

    ``timeout``: seconds for the whole notebook; ``cell_timeout``: seconds per cell; ``on_cell(index, done)``
    is called as each cell starts; ``keep_going``: see the module's docstring (the status is then ``timeout``
    when a cell ran over its limit, else ``failed`` for the first error); ``capped`` (grading): each cell's
    outputs are capped as it runs (``_capped_engine``), else kept whole (``labkit run``: its figures). Ctrl-C
    leaves no partial notebook behind and is raised again.
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
    state = {"index": None, "done": 0, "limit": None, "interrupts": {}, "timed_out": {}, "errors": {}}
    engine = _engine(state, deadline, timeout, cell_timeout, on_cell, keep_going)
    status, message = "ok", ""
    try:
        papermill.execute_notebook(str(src), str(tmp), parameters=dict(parameters or {}),
                                   engine_name=_capped_engine() if capped else "nbclient",
                                   cwd=None if cwd is None else str(cwd), progress_bar=False, log_output=False,
                                   **engine)
    except PapermillExecutionError as exc:
        error = exc
        if keep_going:  # papermill names the LAST error, and the grader's own cells' errors are no failure
            error = state["errors"][min(state["errors"])] if state["errors"] else None
            _banner(tmp, min([*state["errors"], *_late(state)], default=None))
        status = "ok" if error is None else "killed" if error.ename == "MemoryError" else "failed"
        message = "" if error is None else f"{error.ename}: {error.evalue}"
    except CellTimeoutError:
        limit = timeout if deadline is not None and time.monotonic() >= deadline - 1 else cell_timeout
        status, message = "timeout", f"stopped after {limit:g} s"
        if state["interrupts"]:  # keep_going: an interrupted cell that did not stop
            message = f"{_limit_message(state)} and could not be interrupted"
        _mark_stopped(tmp, state["index"], "TimeoutError", message)
    except DeadKernelError:
        status, message = "killed", "the kernel died (out of memory?)"
        _mark_stopped(tmp, state["index"], "DeadKernelError", message)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        status, message = "failed", f"{type(exc).__name__}: {exc}"
    late = _late(state)
    if late and status in ("ok", "failed"):  # keep_going: a cell ran over its limit, the later cells ran
        status, message = "timeout", state["timed_out"][late[0]]
    written = None
    if tmp.exists():
        os.replace(tmp, dst)
        written = dst
    return Execution(status, _first_line(message), time.monotonic() - start, written)


def _engine(state: dict, deadline: float | None, timeout: float | None, cell_timeout: float | None, on_cell,
            keep_going: bool) -> dict:
    """papermill's engine options: cell callbacks that keep ``state`` (the running cell, cells done, the
    interrupted ones), the time limits, and a quiet kernel that is killed at once when stopped."""
    import nbformat

    def started(cell, cell_index, **_):
        state["index"] = cell_index
        if keep_going and deadline is not None and time.monotonic() >= deadline and cell.cell_type == "code":
            cell.metadata.setdefault("tags", []).append(SKIPPED)
            cell.outputs = [nbformat.v4.new_output("stream", name="stderr",
                                                   text="not run: the notebook was over its time limit\n")]
        if on_cell is not None:
            on_cell(cell_index, state["done"])

    def finished(cell, cell_index, execute_reply=None, **_):
        state["done"] += 1
        reply = (execute_reply or {}).get("content", {})
        if reply.get("status") == "error" and cell_index not in state["interrupts"] \
                and not (reply.get("ename") == "SystemExit" and reply.get("evalue") in ("", "0")):
            state["errors"][cell_index] = SimpleNamespace(ename=reply.get("ename"), evalue=reply.get("evalue"))
        if cell_index in state["interrupts"]:  # ran over its limit: say so instead of KeyboardInterrupt
            message = _limit_message(state)
            state["timed_out"][cell_index] = message
            cell.outputs = [o for o in cell.get("outputs", []) if o.get("ename") != "KeyboardInterrupt"]
            cell.outputs.append(nbformat.v4.new_output("error", ename="TimeoutError", evalue=message,
                                                       traceback=[f"TimeoutError: {message}"]))

    def limit(cell) -> int | None:  # nbclient asks once per cell, as it starts it; None: no limit
        left = math.inf if deadline is None else deadline - time.monotonic()  # one deadline, counted down
        seconds = min(left, cell_timeout or math.inf)
        why = "cell" if (cell_timeout or math.inf) <= left else "notebook"
        seconds = None if seconds == math.inf else max(1, math.ceil(float(seconds)))
        state["limit"] = (seconds, why, timeout)
        return seconds

    # immediate: a stopped kernel is killed at once, instead of a graceful shutdown it cannot answer;
    # log level ERROR: ipykernel 7 warns on every start that its local TCP sockets are not encrypted
    engine = {"on_cell_start": started, "on_cell_executed": finished, "shutdown_kernel": "immediate",
              "extra_arguments": ["--IPKernelApp.log_level=ERROR"], "timeout_func": limit,
              "kernel_manager_class": _quiet_kernels(state if keep_going else None)}
    if keep_going:
        engine.update(allow_errors=True, interrupt_on_timeout=True)
    return engine


CUT_NOTE = "[... output cut: over {} characters for this cell or {} for the notebook ...]\n"


@functools.cache
def _capped_engine() -> str:
    """papermill's nbclient engine with each cell's outputs capped as it runs, registered once under our name.

    For the grader's run (``capped``): a cell that prints 200 MB, or displays image after image, keeps a note
    instead, and the run neither slows down nor fills memory. Outputs are measured as ``untrusted._cap`` measures
    them when the grader reads the executed notebook (JSON characters, images included), with its limits. Once a
    cell is cut, its later outputs are dropped too (kept in order). nbclient has no such option; its ``output``
    method is the place every output passes. Built on first use, not at import: importing papermill would cost
    every ``labkit`` command a second and a half.
    """
    import json

    import nbformat
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.log import logger
    from papermill.utils import merge_kwargs, remove_args

    from labkit.untrusted import OUTPUT_LIMIT, OUTPUTS_LIMIT

    class CappedClient(PapermillNotebookClient):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.capped_sizes: dict[int, int] = {}  # characters kept per cell
            self.capped_total = 0  # characters kept in all
            self.capped_cells: set[int] = set()  # cells cut: the rest of their outputs is dropped

        def output(self, outs, msg, display_id, cell_index):
            if cell_index in self.capped_cells:
                return None
            size = len(json.dumps(msg.get("content", {}), default=str))
            used = self.capped_sizes.get(cell_index, 0)
            if used + size > OUTPUT_LIMIT or self.capped_total + size > OUTPUTS_LIMIT:
                self.capped_cells.add(cell_index)
                outs.append(nbformat.v4.new_output("stream", name="stderr",
                                                   text=CUT_NOTE.format(OUTPUT_LIMIT, OUTPUTS_LIMIT)))
                return None
            self.capped_sizes[cell_index] = used + size
            self.capped_total += size
            return super().output(outs, msg, display_id, cell_index)

    class CappedEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                     stderr_file=None, start_timeout=60, execution_timeout=None, **kwargs):
            # NBClientEngine's own, with our client
            kwargs = remove_args(["input_path"], **kwargs)
            safe = remove_args(["timeout", "startup_timeout"], **kwargs)
            final = merge_kwargs(safe, timeout=execution_timeout or kwargs.get("timeout"),
                                 startup_timeout=start_timeout, kernel_name=kernel_name, log=logger,
                                 log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file)
            return CappedClient(nb_man, **final).execute()

    papermill_engines.register("labkit-capped", CappedEngine)
    return "labkit-capped"


def _late(state: dict) -> list[int]:
    """The cells that ran over their limit and were interrupted (keep_going), in order."""
    return sorted(state["timed_out"])


def _limit_message(state: dict) -> str:
    """Why the running cell was interrupted (keep_going)."""
    seconds, why, total = state["limit"]
    if why == "notebook" and total:
        return f"stopped: the notebook ran over its {total:g} s"
    return f"stopped after {seconds:g} s"


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


def _banner(path: Path, cell_index: int | None) -> None:
    """papermill's error banner and anchor on the cell ``cell_index`` (none: no banner), instead of the ones it
    put on the notebook's last error (keep_going)."""
    import nbformat
    from papermill.execute import ERROR_ANCHOR_MSG, ERROR_MARKER_TAG, ERROR_MESSAGE_TEMPLATE

    if not path.exists():
        return
    nb = nbformat.read(path, as_version=4)
    nb.cells = [c for c in nb.cells if ERROR_MARKER_TAG not in c.get("metadata", {}).get("tags", [])]
    if cell_index is not None and cell_index < len(nb.cells):
        for at, text in ((cell_index, ERROR_ANCHOR_MSG),
                         (0, ERROR_MESSAGE_TEMPLATE % str(nb.cells[cell_index].get("execution_count")))):
            marker = nbformat.v4.new_markdown_cell(text)
            marker.metadata["tags"] = [ERROR_MARKER_TAG]
            nb.cells.insert(at, marker)
    nbformat.write(nb, path)


def _quiet_kernels(state: dict | None = None) -> type:
    """A kernel manager whose kernels' own stdout/stderr go nowhere (as nbval's do): ipykernel captures C-level
    output (TensorFlow's log lines) into the notebook and would also echo it to the terminal. With ``state``
    (keep_going), it records which cell nbclient interrupted for its time limit, and gives up (CellTimeoutError)
    on a cell still running ``INTERRUPT_GRACE`` seconds after its first interrupt (it swallows them)."""
    from jupyter_client.manager import AsyncKernelManager
    from nbclient.exceptions import CellTimeoutError

    class QuietKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw):
            kw.setdefault("stdout", subprocess.DEVNULL)
            kw.setdefault("stderr", subprocess.DEVNULL)
            return await super().start_kernel(**kw)

        async def interrupt_kernel(self):
            if state is not None:
                first = state["interrupts"].setdefault(state["index"], time.monotonic())
                if time.monotonic() - first >= INTERRUPT_GRACE:
                    raise CellTimeoutError(f"cell {state['index']} did not stop when interrupted")
            return await super().interrupt_kernel()

    return QuietKernelManager


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def main(argv: list[str] | None = None) -> int:
    """``python -m labkit.execute``: one notebook, its status as the exit code (the grader's sandboxed child)."""
    import argparse
    import json
    import sys

    p = argparse.ArgumentParser(prog="labkit.execute")
    p.add_argument("notebook")
    p.add_argument("output")
    p.add_argument("--cwd", required=True)
    p.add_argument("--cell-timeout", type=float, required=True)
    p.add_argument("--timeout", type=float, default=None, help="the notebook's deadline")
    p.add_argument("--keep-going", action="store_true", help="run every cell, even after an error or a timeout")
    p.add_argument("--parameters", default="{}")
    a = p.parse_args(argv)
    run = execute(a.notebook, a.output, json.loads(a.parameters), cwd=a.cwd, cell_timeout=a.cell_timeout,
                  timeout=a.timeout, keep_going=a.keep_going, capped=True)
    if run.message:
        print(run.message[:1000], file=sys.stderr)
    return EXIT_CODES[run.status]


if __name__ == "__main__":
    raise SystemExit(main())
