"""``labkit run``: execute the lab notebooks headless, then write an HTML report.

Papermill executes one notebook (through ``labkit.execute``, the executor ``labkit grade`` uses too). This
adds what a suite needs: lab selection, the size profile and model as parameters, typed ``-p`` values
checked against each lab's declaration before anything runs (``plan``), a per-notebook timeout, parallel
jobs, progress lines, a summary table and the report (``labkit.report``); and, for a lab with exercises, each
exercise's status (``labkit check`` on the executed notebook: passes, fails or not done; answered or not) in the
table, the report and the lab's ``results.json`` (key ``exercises``).

Output layout under ``--out`` (default ``labkit-out``)::

    index.html                 the report: every lab's status, key numbers and figures
    01_attention_maps.ipynb    the executed notebook (a failed one keeps papermill's error banner)
    01_attention_maps.html     the same, exported with nbconvert
    01_attention_maps/         the lab's out_dir: results.json and its PNG figures
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from labkit import labs
from labkit.errors import LabkitError
from labkit.execute import execute
from labkit.runner.plan import find_notebooks, parameters, parse_assignment, parse_value, plan, resolve_lab
from labkit.student import CHECK_SECONDS

PROGRESS_EVERY = 15.0  # seconds between "cell k/n" lines (the cell running now) of a running lab

__all__ = ["PROGRESS_EVERY", "add_cli", "check_exercises", "find_notebooks", "list_labs",
           "parameters", "parse_assignment", "parse_value", "plan", "resolve_lab", "run", "run_lab", "summary"]


def _say(text: str) -> None:
    print(text, flush=True)


def run_lab(job: dict, jobs: int = 1) -> dict:
    """Run one planned lab; never raises for a lab's failure. Returns its outcome."""
    from labkit import report

    lab = job["lab"]
    final, html = Path(job["notebook"]), Path(job["html"])
    if jobs > 1 and "TF_NUM_INTRAOP_THREADS" not in os.environ:  # share the cores instead of oversubscribing
        os.environ["TF_NUM_INTRAOP_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))
    for stale in (final, html):
        stale.unlink(missing_ok=True)
    if job["own_out_dir"]:  # the runner's own folder for this lab: start it empty, so no stale figure remains
        shutil.rmtree(job["out_dir"], ignore_errors=True)
        Path(job["out_dir"]).mkdir(parents=True, exist_ok=True)
    n_code = _count_code_cells(job["src"])
    state = {"done": 0}
    start = time.monotonic()
    stopped = threading.Event()

    def progress():  # every PROGRESS_EVERY seconds, also during one long cell
        while not stopped.wait(PROGRESS_EVERY):
            _say(f"      {lab}: cell {min(state['done'] + 1, n_code)}/{n_code}, {time.monotonic() - start:.0f} s")

    _say(f"      {lab}: running")
    threading.Thread(target=progress, daemon=True).start()
    try:
        run = execute(job["src"], final, job["params"], cwd=job["cwd"], timeout=job["timeout"],
                      on_cell=lambda index, done: state.update(done=done))
    finally:
        stopped.set()
    outcome = {"lab": lab, "out_dir": job["out_dir"], "status": run.status, "seconds": run.seconds,
               "message": run.message, "notebook": str(run.notebook) if run.notebook else None, "html": None}
    if run.notebook:
        try:
            outcome["html"] = str(report.export_html(run.notebook, html))
        except Exception as exc:  # noqa: BLE001 - the run's result stands without its HTML copy
            outcome["message"] = (outcome["message"] + "; " if outcome["message"] else "") + f"no HTML: {exc}"
    return outcome


def _count_code_cells(path: str) -> int:
    import nbformat

    try:
        return sum(c.cell_type == "code" for c in nbformat.read(path, as_version=4).cells) + 1  # + injected params
    except Exception:  # noqa: BLE001 - the executor reports an unreadable notebook
        return 0


def run(names: Sequence[str] = (), *, model: str = "auto", profile: str = labs.DEFAULT_PROFILE,
        params: Sequence[str] = (), out: str | os.PathLike = "labkit-out", timeout: float | None = None,
        jobs: int = 1, notebooks: str | os.PathLike | None = None) -> list[dict]:
    """Plan (all checks first), run every lab, write the report; one outcome dict per lab, in lab order."""
    if jobs < 1:
        raise LabkitError(f"--jobs must be at least 1, got {jobs}")
    planned = plan(names, model=model, profile=profile, params=params, out=out, timeout=timeout,
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
    rejected = len(outcomes)

    def finished(result: dict) -> None:
        outcomes[result["lab"]] = result
        note = f" ({result['message']})" if result["message"] and result["status"] != "ok" else ""
        _say(f"[{len(outcomes) - rejected}/{len(todo)}] {result['lab']}: {result['status']} in "
             f"{result['seconds']:.1f} s{note}")

    _run_all(todo, jobs, finished)
    from labkit import report

    ordered = [outcomes[job["lab"]] for job in planned]
    check_exercises(ordered)
    index = report.build(out, ordered, header={"profile": profile, "model": _model_line(model)})
    _say("")
    _say(summary(ordered))
    _say(f"report: {_show(index)}")
    return ordered


def _run_all(todo: list[dict], jobs: int, finished) -> None:
    if jobs == 1 or len(todo) <= 1:
        for job in todo:
            try:
                finished(run_lab(job))
            except Exception as exc:  # noqa: BLE001 - the runner's own failure on one lab; the others go on
                finished(_crashed(job, exc))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run_lab, job, jobs): job for job in todo}
        for future in as_completed(futures):
            try:
                finished(future.result())
            except Exception as exc:  # noqa: BLE001 - a worker process died; the other labs go on
                finished(_crashed(futures[future], exc))


def check_exercises(outcomes: Sequence[dict]) -> None:
    """Each executed notebook of a lab with exercises: its exercises' status (``labkit check --json``, in a
    process of its own, as the student's code runs there), into its outcome (``exercises``: one dict per
    exercise, see ``labkit.handin``) and its lab's ``results.json``."""
    from labkit import results

    todo = [o for o in outcomes if o.get("notebook") and o["lab"] in labs.LABS and labs.LABS[o["lab"]].exercises]
    if not todo:
        return
    _say("      the exercises: labkit check on each executed notebook")
    # each coding exercise may take CHECK_SECONDS twice: its code run (handin._coding), then its checks
    n = 2 * sum(not e.written for o in todo for e in labs.LABS[o["lab"]].exercises)
    why = "labkit check could not run"
    try:
        done = subprocess.run([sys.executable, "-m", "labkit", "check", "--json", *[o["notebook"] for o in todo]],
                              capture_output=True, text=True, timeout=60 + n * CHECK_SECONDS)
        why += f": {(done.stderr.strip().splitlines() or ['it printed nothing'])[-1]}"
        found = json.loads(done.stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        found = [{"error": why}] * len(todo)
    for o, f in zip(todo, found, strict=True):
        if "error" in f:
            o["exercises_error"] = f["error"]
            continue
        o["exercises"] = f["exercises"]
        saved = Path(o["out_dir"] or "") / "results.json"
        if o["out_dir"] and saved.is_file():
            results.update(saved, exercises=f["exercises"])


def _crashed(job: dict, exc: BaseException) -> dict:
    return {"lab": job["lab"], "status": "failed", "seconds": 0.0, "notebook": None, "html": None,
            "out_dir": job["out_dir"], "message": f"labkit run could not run it: {type(exc).__name__}: {exc}"}


def summary(outcomes: Sequence[dict]) -> str:
    """The table printed at the end: lab, status, time, (exercises,) output path; then each lab's exercises one by
    one, and each failure's message."""
    from labkit import report

    checked = any("exercises" in o or "exercises_error" in o for o in outcomes)
    rows = [("lab", "status", "time", *(("exercises",) if checked else ()), "output")]
    for o in outcomes:
        done = report.exercise_counts(o["exercises"]) if "exercises" in o else "?" if "exercises_error" in o else "-"
        rows.append((o["lab"], o["status"], f"{o['seconds']:.1f} s" if o["status"] != "rejected" else "-",
                     *((done,) if checked else ()), _show(o["notebook"]) if o["notebook"] else "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(f"{v:>{w}}" if i == 2 else v if i == len(r) - 1 else f"{v:<{w}}"
                       for i, (v, w) in enumerate(zip(r, widths, strict=True))) for r in rows]
    for o in outcomes:
        if "exercises" in o:
            coding = ", ".join(f"{e['name']} {e['status']}" for e in o["exercises"] if e["kind"] == "coding")
            written = ", ".join(f"{e['name']} {e['status']}" for e in o["exercises"] if e["kind"] == "written")
            lines.append(f"{o['lab']}: {'; '.join(p for p in (coding, written) if p)}")
        elif "exercises_error" in o:
            lines.append(f"{o['lab']}: exercises not checked: {o['exercises_error']}")
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


def list_labs(names: Sequence[str] = (), notebooks: str | os.PathLike | None = None) -> str:
    """Every lab with its parameters (name = default  # help), from its declaration (or parameters cell)."""
    found = find_notebooks(notebooks)
    lines = []
    for lab in [resolve_lab(name, found) for name in names] or list(found):
        declared = parameters(lab, found[lab])
        lines.append(f"{lab}  ({_show(found[lab])})")
        width = max((len(f"{k} = {d}") for k, (d, _) in declared.items()), default=0)
        for k, (default, help_) in declared.items():
            assign = f"{k} = {default}"
            lines.append(f"  {assign:<{width}}  # {help_}" if help_ else f"  {assign}")
        lines.append("")
    lines.append("Set any of them with -p key=value (every lab that has it) or -p LAB:key=value (one lab).")
    return "\n".join(lines)


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
    p.add_argument("--profile", default=labs.DEFAULT_PROFILE,
                   help=f"size profile: {', '.join(labs.PROFILES)} (default: {labs.DEFAULT_PROFILE})")
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
