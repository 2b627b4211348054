"""``labkit run``: execute the lab notebooks headless with papermill, then write an HTML report.

Papermill executes one notebook. This adds what a suite needs and papermill lacks: lab selection,
the size profile and model as parameters, typed ``-p`` values checked against each notebook's
``parameters`` cell before anything runs (papermill only warns), a per-notebook timeout (nbclient's
per-cell ``timeout_func`` counting down one deadline), atomic outputs, parallel jobs, a summary
table and the report (``labkit.report``).

Output layout under ``--out`` (default ``labkit-out``)::

    index.html                 the report: every lab's status, key numbers and figures
    01_attention_maps.ipynb    the executed notebook (a failed one keeps papermill's error banner)
    01_attention_maps.html     the same, exported with nbconvert
    01_attention_maps/         the lab's out_dir: results.json and its PNG figures
"""

from __future__ import annotations

import ast
import difflib
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from labkit import profiles
from labkit.errors import LabkitError

STATUSES = ("ok", "failed", "timeout", "error")  # error: rejected before it ran (bad parameter, folder)
PROGRESS_EVERY = 15.0  # seconds between "cell k/n" lines (the cell running now) of a running lab
_WORDS = {"true": True, "false": False, "none": None, "null": None}


# ---------------------------------------------------------------------------
# Labs and their parameters
# ---------------------------------------------------------------------------

def notebooks_dir() -> Path:
    """The repository's ``notebooks/`` folder (labkit is installed editable from the repository)."""
    return Path(__file__).resolve().parent.parent / "notebooks"


def discover(folder: str | os.PathLike | None = None) -> dict[str, Path]:
    """Lab name -> notebook path, for every ``NN_name.ipynb`` in ``folder``, in order."""
    folder = Path(folder) if folder is not None else notebooks_dir()
    labs = {p.stem: p for p in sorted(folder.glob("[0-9][0-9]_*.ipynb"))}
    if not labs:
        raise LabkitError(f"no lab notebooks (NN_name.ipynb) in {folder}; pass --notebooks DIR")
    return labs


def resolve_lab(name: str, labs: dict[str, Path]) -> str:
    """A lab's full name from ``01``, ``1``, ``attention_maps`` or ``01_attention_maps``."""
    key = name.strip()
    if key in labs:
        return key
    if key.isdigit():
        hits = [lab for lab in labs if lab[:2].isdigit() and int(lab[:2]) == int(key)]
    else:
        hits = [lab for lab in labs if lab.split("_", 1)[-1] == key]
    if len(hits) == 1:
        return hits[0]
    close = difflib.get_close_matches(key, list(labs), n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise LabkitError(f"unknown lab {name!r}{hint}; labs: {', '.join(labs)}")


def lab_parameters(path: str | os.PathLike) -> dict[str, dict]:
    """The notebook's ``parameters`` cell, as papermill reads it: name -> {default, help, ...}."""
    import papermill

    return papermill.inspect_notebook(str(path))


def parse_value(text: str):
    """A ``-p`` value: a Python literal (int, float, bool, None, list, dict, quoted str), else the string itself.

    ``true``/``false``/``none``/``null`` are accepted in lower case too; tuples become lists.
    """
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        word = text.strip().lower()
        return _WORDS[word] if word in _WORDS else text
    return _lists(value)


def _lists(value):
    if isinstance(value, tuple | list):
        return [_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, set | frozenset | complex | bytes):
        raise LabkitError(f"-p value {value!r}: sets, bytes and complex numbers cannot be notebook parameters")
    return value


def parse_assignment(text: str) -> tuple[str | None, str, object]:
    """``[LAB:]key=value`` -> (LAB or None, key, typed value)."""
    left, eq, raw = text.partition("=")
    lab, _, key = left.rpartition(":")
    key = key.strip()
    if not eq or not key.isidentifier():
        raise LabkitError(f"-p {text!r}: expected key=value or LAB:key=value, e.g. -p seed=1 -p 01:n_images=2")
    return (lab.strip() or None), key, parse_value(raw)


# ---------------------------------------------------------------------------
# Planning: every check happens here, before any notebook runs
# ---------------------------------------------------------------------------

def check_writable(folder: Path) -> None:
    """Create ``folder`` if needed and prove a file can be written in it, or raise one clear error."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        why = "a file is in the way" if isinstance(exc, FileExistsError | NotADirectoryError) else exc.strerror
        raise LabkitError(f"cannot write to output folder {folder}: {why or exc}") from None


def _unknown(names: Iterable[str], declared: Sequence[str]) -> str:
    parts = []
    for name in names:
        close = difflib.get_close_matches(name, declared, n=1)
        parts.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return ", ".join(parts)


def plan(labs: Sequence[str] = (), *, model: str = "auto", profile: str = profiles.DEFAULT_PROFILE,
         params: Sequence[str] = (), out: str | os.PathLike = "labkit-out", timeout: float | None = None,
         notebooks: str | os.PathLike | None = None) -> list[dict]:
    """One job per selected lab, or a lab-level ``error`` outcome; raises LabkitError for run-wide mistakes.

    ``params`` are ``key=value`` strings (every selected lab that declares ``key`` gets it; a key that no
    selected lab declares is an error) or ``LAB:key=value`` (that lab only; a key it does not declare
    rejects that lab, and the others still run).
    """
    from labkit import models

    profiles.check_profile(profile)
    models.spec(model)
    if timeout is not None and timeout <= 0:
        raise LabkitError(f"--timeout must be a positive number of seconds, got {timeout}")
    found = discover(notebooks)
    chosen = [resolve_lab(name, found) for name in labs] or list(found)
    chosen = list(dict.fromkeys(chosen))
    common: dict[str, object] = {}
    per_lab: dict[str, dict[str, object]] = {lab: {} for lab in chosen}
    for text in params:
        lab, key, value = parse_assignment(text)
        if lab is None:
            common[key] = value
            continue
        lab = resolve_lab(lab, found)
        if lab not in per_lab:
            raise LabkitError(f"-p {text!r}: lab {lab} is not among the labs to run ({', '.join(chosen)})")
        per_lab[lab][key] = value
    if "out_dir" in common:
        raise LabkitError("-p out_dir: each lab has its own; use --out DIR, or -p LAB:out_dir=DIR for one lab")
    declared, unreadable = {}, {}
    for lab in chosen:
        try:
            declared[lab] = lab_parameters(found[lab])
        except Exception as exc:  # noqa: BLE001 - a broken notebook is that lab's failure, not the run's
            declared[lab], unreadable[lab] = {}, f"cannot read the notebook {found[lab]}: {exc}"
    nowhere = [key for key in common if not any(key in d for d in declared.values())]
    if nowhere:
        every = sorted(set().union(*declared.values()))
        raise LabkitError(f"unknown parameter {_unknown(nowhere, every)}: no lab to run declares it. "
                          f"Parameters: {', '.join(every)} (see labkit run --list)")
    out = Path(out).expanduser().absolute()
    check_writable(out)

    jobs = []
    for lab in chosen:
        names = declared[lab]
        own = out / lab
        given: dict[str, object] = {"profile": profile, "model_name": model, "out_dir": str(own)}
        given = {k: v for k, v in given.items() if k in names}
        given.update({k: v for k, v in common.items() if k in names})
        given.update(per_lab[lab])
        job = {"lab": lab, "src": str(found[lab]), "notebook": str(out / f"{lab}.ipynb"),
               "html": str(out / f"{lab}.html"), "params": given, "timeout": timeout, "cwd": os.getcwd(),
               "out_dir": None, "own_out_dir": False}
        try:
            if lab in unreadable:
                raise LabkitError(unreadable[lab])
            bad = [k for k in per_lab[lab] if k not in names]
            if bad:
                raise LabkitError(f"unknown parameter {_unknown(bad, list(names))} for {lab}; "
                                  f"its parameters: {', '.join(names)}")
            if "profile" in given:
                profiles.check_profile(given["profile"])
            if isinstance(given.get("model_name"), str):
                models.spec(given["model_name"])
            if "out_dir" in given:
                target = Path(str(given["out_dir"])).expanduser().absolute()
                given["out_dir"] = str(target)
                job["out_dir"], job["own_out_dir"] = str(target), target == own
                check_writable(target)
        except LabkitError as exc:
            job = {**job, "status": "error", "message": str(exc)}
        jobs.append(job)
    return jobs


# ---------------------------------------------------------------------------
# Execution of one lab (in this process, or in a worker process for --jobs N)
# ---------------------------------------------------------------------------

def _say(text: str) -> None:
    print(text, flush=True)


def _mark_stopped(path: Path, cell_index: int | None, ename: str, evalue: str) -> None:
    """Give a notebook that was stopped from outside (timeout, dead kernel) papermill's error banner."""
    import nbformat
    from papermill.exceptions import PapermillExecutionError
    from papermill.execute import raise_for_execution_errors

    nb = nbformat.read(path, as_version=4)
    if cell_index is not None and cell_index < len(nb.cells):
        cell = nb.cells[cell_index]
        cell["outputs"] = [o for o in cell.get("outputs", []) if o.get("ename") != "KeyboardInterrupt"]
        cell["outputs"].append(
            nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]))
    try:
        raise_for_execution_errors(nb, str(path))  # papermill's own banner, then it raises
    except PapermillExecutionError:
        pass


def execute(job: dict, jobs: int = 1) -> dict:
    """Run one planned lab; never raises for a lab's failure. Returns its outcome."""
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    from labkit import report

    lab, timeout = job["lab"], job["timeout"]
    final, html = Path(job["notebook"]), Path(job["html"])
    tmp = final.with_name(f".{lab}.partial{os.getpid()}.ipynb")  # os.replace()d into place when done
    if jobs > 1 and "TF_NUM_INTRAOP_THREADS" not in os.environ:  # share the cores instead of oversubscribing
        os.environ["TF_NUM_INTRAOP_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))
    for stale in (final, html):
        stale.unlink(missing_ok=True)
    if job["own_out_dir"]:  # the runner's own folder for this lab: start it empty, so no stale figure remains
        shutil.rmtree(job["out_dir"], ignore_errors=True)
        Path(job["out_dir"]).mkdir(parents=True, exist_ok=True)

    start = time.monotonic()
    deadline = start + timeout if timeout else None
    state = {"index": None, "done": 0}
    n_code = _count_code_cells(job["src"])

    def on_start(cell, cell_index, **_):
        state["index"] = cell_index

    def on_done(cell, cell_index, **_):
        state["done"] += 1

    stopped = threading.Event()

    def progress():  # every PROGRESS_EVERY seconds, also during one long cell
        while not stopped.wait(PROGRESS_EVERY):
            _say(f"      {lab}: cell {min(state['done'] + 1, n_code)}/{n_code}, {time.monotonic() - start:.0f} s")

    # immediate: a timed-out kernel is killed at once, instead of a graceful shutdown it cannot answer;
    # log level ERROR: ipykernel 7 warns on every start that its local TCP sockets are not encrypted
    engine = {"on_cell_start": on_start, "on_cell_executed": on_done, "shutdown_kernel": "immediate",
              "extra_arguments": ["--IPKernelApp.log_level=ERROR"], "kernel_manager_class": _quiet_kernels()}
    if deadline is not None:  # one deadline for the notebook, counted down cell by cell
        engine["timeout_func"] = lambda cell: max(1, math.ceil(deadline - time.monotonic()))

    status, message = None, ""
    _say(f"      {lab}: running")
    threading.Thread(target=progress, daemon=True).start()
    try:
        try:
            papermill.execute_notebook(job["src"], str(tmp), parameters=job["params"], cwd=job["cwd"],
                                       progress_bar=False, **engine)
            status = "ok"
        except PapermillExecutionError as exc:
            status, message = "failed", f"{exc.ename}: {exc.evalue}"
        except CellTimeoutError:
            status, message = "timeout", f"stopped after {timeout:g} s (--timeout)"
            if tmp.exists():
                _mark_stopped(tmp, state["index"], "TimeoutError", f"labkit run: {message}")
        except DeadKernelError:
            status, message = "failed", "the kernel died (out of memory?)"
            if tmp.exists():
                _mark_stopped(tmp, state["index"], "DeadKernelError", message)
        except Exception as exc:  # noqa: BLE001 - any other failure is this lab's, not the run's
            status, message = "failed", f"{type(exc).__name__}: {exc}"
        if tmp.exists():
            os.replace(tmp, final)
    finally:
        stopped.set()
        tmp.unlink(missing_ok=True)  # interrupted (Ctrl-C): no half-written notebook is left behind

    seconds = time.monotonic() - start
    outcome = {k: job[k] for k in ("lab", "out_dir")}
    outcome.update(status=status, seconds=seconds, message=_first_line(message),
                   notebook=str(final) if final.exists() else None, html=None)
    if final.exists():
        try:
            outcome["html"] = str(report.export_html(final, html))
        except Exception as exc:  # noqa: BLE001 - the run's result stands without its HTML copy
            outcome["message"] = (outcome["message"] + "; " if outcome["message"] else "") + f"no HTML: {exc}"
    return outcome


def _quiet_kernels() -> type:
    """A kernel manager whose kernels' own stdout/stderr go nowhere (as nbval's do). ipykernel captures
    C-level output (TensorFlow's log lines) into the notebook and would also echo it to the terminal."""
    import subprocess

    from jupyter_client.manager import AsyncKernelManager

    class QuietKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw):
            kw.setdefault("stdout", subprocess.DEVNULL)
            kw.setdefault("stderr", subprocess.DEVNULL)
            return await super().start_kernel(**kw)

    return QuietKernelManager


def _count_code_cells(path: str) -> int:
    import nbformat

    return sum(c.cell_type == "code" for c in nbformat.read(path, as_version=4).cells) + 1  # + injected params


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def run(labs: Sequence[str] = (), *, model: str = "auto", profile: str = profiles.DEFAULT_PROFILE,
        params: Sequence[str] = (), out: str | os.PathLike = "labkit-out", timeout: float | None = None,
        jobs: int = 1, notebooks: str | os.PathLike | None = None) -> list[dict]:
    """Plan (all checks first), run every lab, write the report; one outcome dict per lab, in lab order."""
    if jobs < 1:
        raise LabkitError(f"--jobs must be at least 1, got {jobs}")
    planned = plan(labs, model=model, profile=profile, params=params, out=out, timeout=timeout,
                   notebooks=notebooks)
    out = Path(out).expanduser().absolute()
    todo = [job for job in planned if "status" not in job]
    _say(f"labkit run: {len(planned)} lab(s), profile {profile}, model {_model_line(model)}, "
        f"output {_show(out)}" + (f", timeout {timeout:g} s per lab" if timeout else "")
        + (f", {jobs} jobs" if jobs > 1 else ""))
    outcomes: dict[str, dict] = {}
    for job in planned:
        if "status" in job:
            outcomes[job["lab"]] = {"lab": job["lab"], "status": job["status"], "seconds": 0.0,
                                    "message": job["message"], "notebook": None, "html": None,
                                    "out_dir": job["out_dir"]}
            _say(f"      {job['lab']}: not run: {job['message']}")

    def finished(result: dict) -> None:
        outcomes[result["lab"]] = result
        note = f" ({result['message']})" if result["message"] and result["status"] != "ok" else ""
        _say(f"[{len(outcomes) - rejected}/{len(todo)}] {result['lab']}: {result['status']} in "
            f"{result['seconds']:.1f} s{note}")

    rejected = len(outcomes)
    if jobs == 1 or len(todo) <= 1:
        for job in todo:
            try:
                finished(execute(job))
            except Exception as exc:  # noqa: BLE001 - the runner's own failure on one lab; the others go on
                finished(_crashed(job, exc))
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=min(jobs, len(todo)),
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(execute, job, jobs): job for job in todo}
            for future in as_completed(futures):
                try:
                    finished(future.result())
                except Exception as exc:  # noqa: BLE001 - a worker process died; the other labs go on
                    finished(_crashed(futures[future], exc))

    from labkit import report

    ordered = [outcomes[job["lab"]] for job in planned]
    index = report.build(out, ordered, header={"profile": profile, "model": _model_line(model)})
    _say("")
    _say(summary(ordered))
    _say(f"report: {_show(index)}")
    return ordered


def _crashed(job: dict, exc: BaseException) -> dict:
    return {"lab": job["lab"], "status": "failed", "seconds": 0.0, "notebook": None, "html": None,
            "out_dir": job["out_dir"], "message": f"labkit run could not run it: {type(exc).__name__}: {exc}"}


def summary(outcomes: Sequence[dict]) -> str:
    """The table printed at the end: lab, status, time, output path; then each failure's message."""
    rows = [("lab", "status", "time", "output")]
    for o in outcomes:
        rows.append((o["lab"], o["status"], f"{o['seconds']:.1f} s" if o["status"] != "error" else "-",
                     _show(o["notebook"]) if o["notebook"] else "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}" for r in rows]
    lines += [f"{o['lab']}: {o['message']}" for o in outcomes if o["status"] != "ok" and o["message"]]
    ok = sum(o["status"] == "ok" for o in outcomes)
    lines.append(f"{ok} of {len(outcomes)} labs ok" + ("" if ok == len(outcomes) else
                                                       f", {len(outcomes) - ok} did not pass"))
    return "\n".join(lines)


def _show(path) -> str:
    """A path relative to the current folder when it is inside it."""
    path = Path(path)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _model_line(model: str) -> str:
    if model.strip().lower() != "auto":
        return model
    from labkit import models

    return f"auto -> {models.resolve_auto(verbose=False)}"


def list_labs(labs: Sequence[str] = (), notebooks: str | os.PathLike | None = None) -> str:
    """Every lab with its parameters (name = default  # comment), read from its ``parameters`` cell."""
    found = discover(notebooks)
    lines = []
    for lab in [resolve_lab(name, found) for name in labs] or list(found):
        params = lab_parameters(found[lab])
        lines.append(f"{lab}  ({_show(found[lab])})")
        width = max((len(f"{p['name']} = {p['default']}") for p in params.values()), default=0)
        for p in params.values():
            assign = f"{p['name']} = {p['default']}"
            lines.append(f"  {assign:<{width}}  # {p['help']}" if p["help"] else f"  {assign}")
        lines.append("")
    lines.append("Set any of them with -p key=value (every lab that has it) or -p LAB:key=value (one lab).")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def _cli(args) -> int:
    if args.list:
        print(list_labs(args.labs, args.notebooks))
        return 0
    try:
        outcomes = run(args.labs, model=args.model, profile=args.profile, params=args.param, out=args.out,
                       timeout=args.timeout, jobs=args.jobs, notebooks=args.notebooks)
    except KeyboardInterrupt:
        print("labkit run: interrupted; unfinished labs left no notebook behind", file=sys.stderr)
        return 130
    return 0 if all(o["status"] == "ok" for o in outcomes) else 1


def add_cli(sub) -> None:
    """Register ``labkit run`` on the ``labkit`` command line's subparsers."""
    p = sub.add_parser("run", help="execute the lab notebooks headless (papermill) and write an HTML report",
                       description="Execute lab notebooks headless with papermill, print a summary table and "
                                   "write an HTML report. Exit status 0 when every lab passed, 1 when one "
                                   "failed, timed out or was rejected, 2 when nothing ran (bad option).")
    p.add_argument("labs", nargs="*", metavar="LAB", help="labs to run: 01, 1, attention_maps or "
                                                           "01_attention_maps (default: all)")
    p.add_argument("--model", default="auto", help="model_name for every lab (default: auto = VGG16 if its "
                                                  "weights are on disk, else the offline efficientnet_lite0)")
    p.add_argument("--profile", default=profiles.DEFAULT_PROFILE,
                   help=f"size profile: {', '.join(profiles.PROFILE_NAMES)} (default: {profiles.DEFAULT_PROFILE})")
    p.add_argument("-p", "--param", action="append", default=[], metavar="[LAB:]KEY=VALUE",
                   help="a notebook parameter; VALUE is a Python literal (2, 0.5, True, None, [1, 2]) or else "
                        "a string; LAB: limits it to one lab. Repeat for more.")
    p.add_argument("--out", default="labkit-out", metavar="DIR", help="output folder (default: labkit-out)")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="stop a lab that runs longer than this (default: no limit)")
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="labs to run at the same time (default: 1)")
    p.add_argument("--list", action="store_true", help="list the labs and their parameters, run nothing")
    p.add_argument("--notebooks", default=None, metavar="DIR", help="folder of NN_name.ipynb lab notebooks "
                                                                   "(default: the repository's notebooks/)")
    p.set_defaults(func=_cli)
