"""``labkit grade``: execute and check many student notebooks, each in a sandbox, on one machine or a cluster.

Where each idea lives:

- ``submissions``: the batch folder, student ids;
- ``one``: one submission: a scratch copy, the sandboxed child, the lab's checks (declared in ``labkit.labs``);
- ``exercises``: the students' own code (each exercise in its clean room), written answers, a notebook's lab;
- ``cleanroom``: each coding exercise run on hidden cases in a fresh sandboxed interpreter, on a package view
  without labkit's own implementation (what a sandbox wrote is read by ``labkit.untrusted`` only);
- ``sandbox``, ``isolate``, ``limits``: bubblewrap's view of the machine, running a command in it (the notebook
  through ``python -m labkit.execute``, every cell), and the watchdog of resident memory, processes and CPU;
- ``checks``: running a lab's checks; ``report``: feedback, summary and the written answers;
- ``cluster``: Dask (a LocalCluster for ``--jobs``, or a scheduler), exactly once through worker deaths,
  reruns that skip what is graded, ``grades.csv`` whole after every submission.
"""

from __future__ import annotations

import os
import sys
from functools import partial
from pathlib import Path

from labkit import labs
from labkit.errors import LabkitError
from labkit.grading.checks import CheckResult
from labkit.grading.cluster import Job, grade_on_cluster, jobs_from_folder, worker_gpu_env
from labkit.grading.isolate import require_sandbox, sandbox_support
from labkit.grading.one import Options, Outcome, grade_one
from labkit.grading.report import columns, write_feedback
from labkit.grading.submissions import Submission, find_submissions, sanitize_id

__all__ = ["CheckResult", "Options", "Outcome", "Submission", "add_cli", "find_submissions", "grade", "grade_job",
           "grade_one", "sanitize_id"]


def grade_job(job: Job, *, lab: str, out: str, options: Options, hidden: tuple[str, ...] = ()) -> dict:
    """On a Dask worker: grade one submission (its own GPU, where the worker has them); the outcome as data."""
    sub = Submission(job.student, Path(job.path), Path(job.notebook) if job.notebook else None, job.problem)
    declared = labs.get(lab)
    try:
        outcome = grade_one(sub, declared, Path(out), options, hidden=hidden, env=worker_gpu_env())
    except Exception as exc:  # noqa: BLE001 - a grader bug for one student must not stop the batch
        from labkit.grading.checks import failed_checks
        from labkit.grading.exercises import failed_exercises

        outcome = Outcome(job.student, "error", 0.0, f"grader error: {type(exc).__name__}: {exc}",
                          failed_checks(declared, "grader error"), options.sandbox,
                          failed_exercises(declared, "grader error"))
    return {**outcome.record(), "max": declared.max_points}


def grade(submissions: str | os.PathLike, lab: int | str, out: str | os.PathLike, *, jobs: int = 1,
          scheduler=None, timeout: float = 1800, cell_timeout: float = 600, memory_mb: int = 8192,
          sandbox: bool = True, regrade: bool = False, parameters: dict | None = None, data=(),
          progress: bool = True, exercise_timeout: float = 60, seed: int = 0) -> list[Outcome]:
    """Grade every submission in a folder on a Dask cluster (``scheduler``: an address, a Cluster or a Client;
    ``None``: a LocalCluster of ``jobs`` workers); write grades.csv, feedback/, summary.md and the written
    answers (answers-<lab>.md) to ``out``.
    Submissions graded before with the same content, lab, checks and options are skipped unless ``regrade``.
    ``data``: files or folders every submission may read (read-only), e.g. an image the notebooks start from.
    ``exercise_timeout``: seconds for each coding exercise's hidden tests in its clean room, besides ``timeout``;
    ``seed``: the grader's seed of the hidden cases (keep the one you use secret)."""
    declared = labs.get(lab)
    for name, value in (("jobs", jobs), ("timeout", timeout), ("cell_timeout", cell_timeout),
                        ("memory_mb", memory_mb), ("exercise_timeout", exercise_timeout)):
        if value < 1:
            raise LabkitError(f"{name} must be at least 1, got {value}")
    subs_root = Path(submissions)
    find_submissions(subs_root)  # a missing or empty folder: one error, nothing written
    out = Path(out)
    _check_writable(out)
    if sandbox:
        require_sandbox()
    missing = [str(d) for d in data if not os.path.exists(d)]
    if missing:
        raise LabkitError(f"data not found: {', '.join(missing)}")
    options = Options(timeout, cell_timeout, memory_mb, sandbox, dict(parameters or {}),
                      tuple(str(Path(d).resolve()) for d in data), exercise_timeout, int(seed))
    todo = jobs_from_folder(subs_root, lab=declared.number, options=vars(options))
    where = f"scheduler {scheduler}" if scheduler is not None else f"{jobs} local worker(s)"
    box = f"sandbox: {sandbox_support().message}" if sandbox else "NO sandbox (--no-sandbox): resource limits only"
    print(f"labkit grade: {len(todo)} submissions, lab {declared.number}, {where}, {box}", file=sys.stderr)
    task = partial(grade_job, lab=declared.name, out=str(out.resolve()), options=options,
                   hidden=(str(subs_root.resolve()), str(out.resolve())))
    from tqdm import tqdm

    outcomes = []
    for graded in tqdm(grade_on_cluster(todo, task, out, scheduler=scheduler, n_workers=jobs, regrade=regrade,
                                        columns=columns(declared)),
                       total=len(todo), desc="grading", disable=not progress):
        outcomes.append(Outcome.from_record(graded.job.student, graded.result))
    outcomes.sort(key=lambda o: o.student)
    write_feedback(outcomes, declared, out)
    return outcomes


def _check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise LabkitError(f"cannot write to the output folder {out}: {exc.strerror}") from None


def _cmd_grade(args) -> int:
    outcomes = grade(args.submissions, args.lab, args.out, jobs=args.jobs, scheduler=args.scheduler,
                     timeout=args.timeout, cell_timeout=args.cell_timeout, memory_mb=args.memory_mb,
                     sandbox=not args.no_sandbox, regrade=args.regrade, data=args.data,
                     exercise_timeout=args.exercise_timeout, seed=args.seed)
    width = max(len(o.student) for o in outcomes)
    for o in outcomes:
        print(f"{o.student:<{width}}  {o.status:<9} {o.total:>5g}  {o.seconds:6.1f} s")
    print(f"grades: {Path(args.out) / 'grades.csv'}; feedback: {Path(args.out) / 'feedback'}; "
          f"summary: {Path(args.out) / 'summary.md'}")
    return 0


def add_cli(sub) -> None:
    """Register ``labkit grade``."""
    p = sub.add_parser("grade", help="execute and check a folder of student notebooks, each in a sandbox")
    p.add_argument("submissions", help="folder of .ipynb files or per-student folders")
    p.add_argument("--lab", required=True, help="lab: 1-4 or its name")
    p.add_argument("--out", required=True, help="output folder for grades.csv, feedback/, summary.md")
    p.add_argument("--jobs", type=int, default=1, help="workers of the local Dask cluster (default 1)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="grade on this Dask scheduler (tls://host:8786, see the README's TLS recipe) instead of a "
                        "local cluster")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per notebook (default 1800)")
    p.add_argument("--cell-timeout", type=float, default=600, help="seconds per cell (default 600)")
    p.add_argument("--exercise-timeout", type=float, default=60,
                   help="seconds for each coding exercise's hidden tests in its clean room, besides the start of a "
                        "fresh Python (default 60)")
    p.add_argument("--seed", type=int, default=0,
                   help="the grader's seed of the exercises' hidden inputs: use a secret one (default 0)")
    p.add_argument("--memory-mb", type=int, default=8192,
                   help="resident memory of a notebook's processes, in MB (default 8192)")
    p.add_argument("--no-sandbox", action="store_true",
                   help="run without the sandbox, with resource limits only (said in the summary and every row)")
    p.add_argument("--regrade", action="store_true", help="grade again submissions graded before (default: skip)")
    p.add_argument("--data", action="append", default=[], metavar="PATH",
                   help="a file or folder every submission may read (read-only in the sandbox); repeat for more")
    p.set_defaults(func=_cmd_grade)
