"""Grade many submissions on a Dask ``distributed`` cluster: one machine's cores, or many machines.

``grade_on_cluster(jobs, grade, out)`` maps ``grade(job) -> dict`` over submissions on a cluster (a
``LocalCluster(n_workers, threads_per_worker=1, processes=True)`` by default, or a scheduler address such as
``tls://head:8786``, a ``Cluster`` object from dask-jobqueue / dask-kubernetes, or a ``Client``) and yields
:class:`Graded` results as they complete. The recipes for Slurm, PBS and Kubernetes are in
the README's grading section.

Exactly once, whatever the workers do:

- every submission is one Dask task with a key of its own: one result per student reaches the table;
- a worker that dies mid-batch loses nothing: the scheduler re-runs its tasks on another worker. A task that
  takes a worker down ``allowed_failures + 1`` times (``distributed.scheduler.allowed-failures``, set for
  the LocalCluster this module starts; a scheduler you start yourself takes it from its own configuration)
  is given up with status ``error`` and is not cached, so the next run tries it again. Dask counts a death
  against every task the worker HELD, so this LocalCluster sets ``worker-saturation`` to 1.0 (a worker holds
  only the task it runs, once the batch is larger than twice the cluster's threads); set both for a
  scheduler you start yourself (``DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=2``,
  ``DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION=1.0``);
- a task may thus RUN more than once, so it is idempotent: it writes its result under a content-addressed
  key, ``OUT/.cache/<sha256>.json`` (atomically, where the worker sees ``OUT``; the client writes it too),
  where sha256 covers the notebook's bytes (or the folder's files), the lab, the checks' version and the
  grading options. A re-run overwrites the same file with the same verdict; nothing is counted twice;
- a rerun skips every submission whose key is in the cache, unless ``regrade=True``;
- ``OUT/grades.csv`` is written atomically after each completed submission and at the end: an interrupted
  run leaves a whole, valid file with the submissions graded so far.

``grade`` must be a module-level function (or a ``functools.partial`` of one) that workers can import, and
should catch its own errors: an exception becomes status ``error`` for that student, never a retry.
"""

from __future__ import annotations

import csv
import hashlib
import inspect
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from labkit import imports
from labkit.errors import LabkitError
from labkit.files import atomic_path

CACHE_DIR = ".cache"
GRADES = "grades.csv"


@dataclass(frozen=True)
class Job:
    """One submission to grade: the student's id, the submission (a .ipynb or a folder), its content key."""

    student: str
    path: str
    key: str
    notebook: str | None = None  # the notebook to run inside a folder submission
    problem: str = ""  # why it cannot be graded at all (labkit.grading.submissions.Submission.problem)


@dataclass
class Graded:
    job: Job
    result: dict  # what grade() returned (status, points, total, ...)
    cached: bool = False  # from OUT/.cache: not run this time
    attempts_hint: str = ""  # "KilledWorker" and the like when the cluster gave up


# ---------------------------------------------------------------------------
# Content keys and the cache
# ---------------------------------------------------------------------------


def content_hash(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, or of a folder's entries: every file, dot-files and checkpoints included (the
    notebook may read any of them), a link by its target's name (never followed), names sorted."""
    path = Path(path)
    h = hashlib.sha256()
    if path.is_file() and not path.is_symlink():
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    if path.is_symlink():
        return hashlib.sha256(b"link\0" + os.readlink(path).encode()).hexdigest()
    if not path.is_dir():
        raise LabkitError(f"submission not found: {path}")
    for entry in sorted(path.rglob("*")):
        rel = entry.relative_to(path).as_posix()
        if entry.is_symlink() or entry.is_file():
            h.update(rel.encode() + b"\0" + content_hash(entry).encode() + b"\n")
        elif entry.is_dir():
            h.update(rel.encode() + b"/\n")
    return h.hexdigest()


def checks_version(lab: int | str | None = None, root: str | os.PathLike | None = None) -> str:
    """The version of a lab's grading: sha256 of every labkit module its declaration (checks, checkers, labkit's
    references) and the grader (clean room, sandbox, checks) import, directly or not: an edited reference
    function or check re-grades everything. ``lab=None``: every lab's; ``root``: another copy of labkit (tests)."""
    from labkit import labs

    chosen = [labs.get(lab)] if lab is not None else list(labs.LABS.values())
    start = [f"labkit.labs.{inspect.getmodule(declared.prepare or declared.checks[0].run).__name__.rsplit('.', 1)[1]}"
             for declared in chosen] + ["labkit.grading.one", "labkit.grading.cleanroom", "labkit.exercises.harness"]
    closure = imports.closure(start, root)
    h = hashlib.sha256()
    for name in sorted(closure):
        h.update(name.encode() + b"\0" + closure[name].read_bytes() + b"\0")
    return h.hexdigest()[:16]


def job_key(path: str | os.PathLike, *, lab: int, checks: str | None = None, options: Mapping | None = None,
            student: str = "") -> str:
    """The content-addressed key of one grading: the student (their hidden cases are their own), the submission's
    content, the lab, the checks' version and the grading options (timeouts, limits...)."""
    spec = {"student": student, "content": content_hash(path), "lab": lab, "checks": checks or checks_version(lab),
            "options": dict(options or {})}
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


def make_jobs(submissions: Iterable[tuple[str, str | os.PathLike]], *, lab: int, checks: str | None = None,
              options: Mapping | None = None) -> list[Job]:
    """Jobs from ``(student, path)`` pairs (student ids must be unique)."""
    checks = checks or checks_version(lab)
    jobs, seen = [], set()
    for student, path in submissions:
        if student in seen:
            raise LabkitError(f"two submissions for the same student id: {student}")
        seen.add(student)
        jobs.append(Job(student, str(path), job_key(path, lab=lab, checks=checks, options=options, student=student)))
    return jobs


def jobs_from_folder(submissions: str | os.PathLike, *, lab: int, options: Mapping | None = None) -> list[Job]:
    """Jobs for ``labkit grade``'s submissions folder (``find_submissions``: files or per-student folders)."""
    from labkit.grading.submissions import find_submissions

    checks = checks_version(lab)
    return [Job(s.student, str(s.path), job_key(s.path, lab=lab, checks=checks, options=options, student=s.student),
                str(s.notebook) if s.notebook else None, s.problem) for s in find_submissions(submissions)]


def _write_json(path: Path, record: dict) -> None:
    """Atomically, from any process on any machine: a unique temporary name, then rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(json.dumps(record, default=str))  # the result's own column order
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class ResultCache:
    """``OUT/.cache/<key>.json``: one verdict per content key."""

    def __init__(self, out: str | os.PathLike):
        self.dir = Path(out) / CACHE_DIR

    def get(self, key: str) -> dict | None:
        try:
            record = json.loads((self.dir / f"{key}.json").read_text())
        except (OSError, ValueError):
            return None
        return record.get("result") if record.get("key") == key else None

    def put(self, key: str, result: dict, **extra) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        _write_json(self.dir / f"{key}.json", {"key": key, "result": result, **extra})


def _run_job(grade: Callable[[Job], dict], job: Job, cache_dir: str | None) -> dict:
    """On a worker: grade, then record the verdict under its content key (where this worker sees OUT)."""
    result = grade(job)
    if not isinstance(result, dict):
        raise TypeError(f"grade() must return a dict, got {type(result).__name__}")
    if cache_dir and os.path.isdir(cache_dir):
        try:
            _write_json(Path(cache_dir) / f"{job.key}.json",
                        {"key": job.key, "result": result, "student": job.student, "finished": time.time()})
        except OSError:
            pass  # the client writes it as well
    return result


# ---------------------------------------------------------------------------
# The cluster
# ---------------------------------------------------------------------------


@contextmanager
def cluster_client(scheduler=None, *, n_workers: int = 2, allowed_failures: int = 2,
                   memory_limit: str | int = "auto") -> Iterator:
    """A ``distributed.Client``: to ``scheduler`` (an address, a Cluster object or a Client, left running), or
    to a new ``LocalCluster(n_workers, threads_per_worker=1, processes=True)`` over TLS, closed at the end. A
    scheduler address is reached with Dask's own configuration (``distributed.comm.tls.*``: the README's recipe
    gives a shared cluster TLS ``Security``)."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler is not None and hasattr(scheduler, "submit"):  # a Client: use it as it is
        yield scheduler
        return
    if scheduler is not None:  # an address, or a Cluster (SLURMCluster, KubeCluster, ...)
        with Client(scheduler) as client:
            yield client
        return
    with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures,
                          "distributed.scheduler.worker-saturation": 1.0}):  # a worker holds its running task only
        # security=True: TLS with a certificate made for this cluster, so that another user of this machine
        # cannot connect to its scheduler (on 127.0.0.1) and run code as the grader
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               memory_limit=memory_limit, silence_logs=logging.ERROR, security=True)
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def map_on_cluster(fn: Callable, items: Sequence, *, client, keys: Sequence[str] | None = None
                   ) -> Iterator[tuple[object, object, BaseException | None]]:
    """``fn(item)`` for every item on the cluster; yields ``(item, result, error)`` as each completes (error:
    the exception, result None). One task per key: a task re-run after a worker died yields once."""
    from distributed import as_completed

    items = list(items)
    # one graph: the scheduler sees one large group of independent tasks (same key prefix) and queues them
    # instead of handing every worker a backlog (a dying worker's backlog counts against allowed-failures)
    futs = client.map(fn, items, key=list(keys), pure=False) if keys else client.map(fn, items, pure=False)
    futures = dict(zip(futs, items, strict=True))
    for fut in as_completed(list(futures)):
        item = futures.pop(fut)
        try:
            yield item, fut.result(), None
        except Exception as exc:  # the task raised, or the cluster gave up on it (KilledWorker)
            yield item, None, exc
        finally:
            fut.release()


def worker_index(name=None) -> int:
    """This Dask worker's index (LocalCluster names workers 0, 1, ...; jobqueue ``SLURMCluster-3-1``: the
    trailing number), 0 outside a worker; for ``labkit.grading.sandbox.gpu_env``."""
    if name is None:
        try:
            from distributed import get_worker

            name = get_worker().name
        except (ImportError, ValueError):
            return 0
    if isinstance(name, int):
        return name
    m = re.search(r"(\d+)$", str(name))
    return int(m.group(1)) if m else int(hashlib.sha256(str(name).encode()).hexdigest(), 16) % 1000


def worker_gpu_env() -> dict[str, str]:
    """The GPU variables for the sandboxed child of THIS worker: its own GPU among the visible ones."""
    from labkit.grading.sandbox import gpu_env, visible_gpus

    gpus = visible_gpus()
    return gpu_env(worker_index(), gpus) if gpus else {}


# ---------------------------------------------------------------------------
# Grading a batch
# ---------------------------------------------------------------------------


@dataclass
class _Table:
    path: Path
    columns: list[str] = field(default_factory=lambda: ["student"])
    rows: dict[str, dict] = field(default_factory=dict)

    fixed: bool = False  # the columns were given: other keys of a result stay out of the table

    def add(self, graded: Graded) -> None:
        for name in [] if self.fixed else graded.result:
            if name not in self.columns:
                self.columns.append(name)
        self.rows[graded.job.student] = {"student": graded.job.student, **graded.result}

    def write(self) -> None:
        """The whole table, atomically: readers never see half a file."""
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore")
            w.writeheader()
            for student in sorted(self.rows):
                w.writerow({k: _cell(v) for k, v in self.rows[student].items()})


def _cell(value):
    return json.dumps(value) if isinstance(value, (list, dict, tuple)) else value


def grade_on_cluster(jobs: Sequence[Job], grade: Callable[[Job], dict], out: str | os.PathLike, *, scheduler=None,
                     n_workers: int = 2, regrade: bool = False, allowed_failures: int = 2,
                     columns: Sequence[str] = (), memory_limit: str | int = "auto") -> Iterator[Graded]:
    """Grade ``jobs`` with ``grade`` on a cluster; yield each :class:`Graded` as it completes (cached ones
    first), keeping ``OUT/.cache`` and ``OUT/grades.csv`` (whole after every submission) up to date.
    No cluster is started when every submission is cached."""
    if len({j.student for j in jobs}) != len(jobs):
        raise LabkitError("student ids must be unique")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cache = ResultCache(out)
    cache.dir.mkdir(exist_ok=True)
    table = _Table(out / GRADES, ["student", *[c for c in columns if c != "student"]], fixed=bool(columns))
    todo = []
    for job in jobs:
        hit = None if regrade else cache.get(job.key)
        if hit is None:
            todo.append(job)
            continue
        graded = Graded(job, hit, cached=True)
        table.add(graded)
        yield graded
    table.write()
    if not todo:
        return
    from functools import partial

    task = partial(_run_job, grade, cache_dir=str(cache.dir.resolve()))
    # unique per student, one prefix for all ("labkit-grade"): Dask groups them, and queues them
    keys = [f"labkit-grade-{hashlib.sha256(f'{job.student}/{job.key}'.encode()).hexdigest()[:32]}" for job in todo]
    with cluster_client(scheduler, n_workers=n_workers, allowed_failures=allowed_failures,
                        memory_limit=memory_limit) as client:
        for job, result, error in map_on_cluster(task, todo, client=client, keys=keys):
            if error is None:
                cache.put(job.key, result, student=job.student)
                graded = Graded(job, result)
            else:
                kind = type(error).__name__
                why = (f"the grading worker died {allowed_failures + 1} times on this submission"
                       if kind == "KilledWorker" else f"grader error: {kind}: {str(error)[:300]}")
                graded = Graded(job, {"status": "error", "message": why}, attempts_hint=kind)
            table.add(graded)
            table.write()
            yield graded


def grade_all(jobs: Sequence[Job], grade: Callable[[Job], dict], out: str | os.PathLike, **kw) -> dict[str, Graded]:
    """:func:`grade_on_cluster` to the end: ``{student: Graded}``."""
    return {g.job.student: g for g in grade_on_cluster(jobs, grade, out, **kw)}

