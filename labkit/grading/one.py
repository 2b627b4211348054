"""Grading one submission: a copy in a scratch folder (the grader's probe cells appended), executed in the sandbox
by the grading child, then the lab's checks on what it left there (never on what it printed) and its coding
exercises' outputs checked against labkit's reference in the grader (``labkit.grading.exercises``)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from labkit import labs
from labkit.errors import LabkitError
from labkit.execute import INTERRUPT_GRACE, check_notebook
from labkit.grading import exercises
from labkit.grading.checks import CheckResult, Context, failed_checks, run_checks
from labkit.grading.child import STATUS_OF
from labkit.grading.isolate import run_sandboxed
from labkit.grading.submissions import Submission


@dataclass
class Options:
    """How every submission of a batch runs: limits, the sandbox, extra notebook parameters."""

    timeout: float = 1800
    cell_timeout: float = 600
    memory_mb: int = 8192
    sandbox: bool = True
    parameters: dict = field(default_factory=dict)
    data: tuple[str, ...] = ()  # files or folders every submission may read (read-only in the sandbox)
    exercise_timeout: float = 60  # seconds for each coding exercise's test (outside the notebook's timeout)
    seed: int = 0  # the grader's seed of the hidden inputs (instructors: a secret one)


NOTEBOOK_LIMIT = 256 << 20  # bytes of a submitted notebook (the grader reads it, to add its probes)
STARTUP = 30  # seconds the sandbox allows besides the notebook's deadline and the probes (start, writes)


def sandbox_timeout(options: Options, probes: int) -> float:
    """The whole run's limit in the sandbox: the notebook's deadline, then each probe's own time (and the grace
    an interrupted cell has), so that the exercises are tested even after the notebook ran out of time."""
    return options.timeout + probes * (options.exercise_timeout + INTERRUPT_GRACE) + INTERRUPT_GRACE + STARTUP


@dataclass
class Outcome:
    student: str
    status: str  # labkit.execute.STATUSES, or "error" when the grader itself failed on it
    seconds: float
    message: str = ""
    checks: list[CheckResult] = field(default_factory=list)
    sandboxed: bool = True
    exercises: list[CheckResult] = field(default_factory=list)  # the coding exercises (name: "4.1")
    answers: dict[str, str] = field(default_factory=dict)  # the written answers, by exercise, for the teacher

    @property
    def total(self) -> float:
        return sum(c.points for c in self.checks) + sum(e.points for e in self.exercises)

    def record(self) -> dict:
        """As data: what the cluster returns, caches and the table reads (written questions: no column value)."""
        return {"status": self.status, "seconds": round(self.seconds, 1), "message": self.message,
                "sandbox": "yes" if self.sandboxed else "NO", "total": self.total,
                **{c.name: c.points for c in self.checks}, **{e.name: e.points for e in self.exercises},
                "checks": [asdict(c) for c in self.checks], "exercises": [asdict(e) for e in self.exercises],
                "answers": dict(self.answers)}

    @classmethod
    def from_record(cls, student: str, record: dict) -> Outcome:
        return cls(student, record.get("status", "error"), float(record.get("seconds", 0.0)),
                   record.get("message", ""), [CheckResult(**c) for c in record.get("checks", [])],
                   record.get("sandbox", "yes") == "yes", [CheckResult(**e) for e in record.get("exercises", [])],
                   dict(record.get("answers") or {}))


def grade_one(sub: Submission, lab: labs.Lab, out: Path, options: Options, *, hidden=(), env=None) -> Outcome:
    """Execute one submission on a copy in a scratch folder (the sandbox's only writable place), then check it.
    ``hidden``: folders the child must not see even where a mounted one holds them (the batch, ``out``).
    A notebook whose metadata names another lab is not run (``rejected``)."""
    start = time.perf_counter()
    if sub.notebook is None:
        return _not_run(sub, lab, options, "invalid", "no .ipynb file in the submission folder",
                        "the notebook could not be run", start)
    scratch = Path(tempfile.mkdtemp(prefix=f"labkit-grade-{sub.student}-"))
    try:
        work = scratch / "work"
        if sub.path.is_dir():
            shutil.copytree(sub.path, work, symlinks=True)
            notebook = work / sub.notebook.name
        else:
            work.mkdir()
            notebook = work / "submission.ipynb"
            shutil.copyfile(sub.path, notebook)
        invalid = _unreadable(notebook) or check_notebook(notebook)
        if invalid:
            return _not_run(sub, lab, options, "invalid", invalid, "the notebook could not be run", start)
        import nbformat

        nb = nbformat.read(notebook, as_version=4)
        wrong = _wrong_lab(exercises.lab_of(nb), lab)
        if wrong:
            return _not_run(sub, lab, options, "rejected", wrong, "the notebook was not run", start)
        answers = exercises.answers(nb, lab)  # from the submission itself, never from what ran
        probes = scratch / "probes"
        inputs = exercises.add_probes(nb, lab, probes, options.seed, sub.student, options.exercise_timeout)
        nbformat.write(nb, notebook)
        executed, out_dir = scratch / "executed.ipynb", work / "labkit-out"
        params = {**lab.graded_with, "out_dir": str(out_dir), **options.parameters}
        argv = [sys.executable, "-m", "labkit.grading.child", str(notebook), str(executed), "--cwd", str(work),
                "--cell-timeout", str(options.cell_timeout), "--timeout", str(options.timeout), "--keep-going",
                "--parameters", json.dumps(params)]
        run = run_sandboxed(argv, workdir=scratch, env=env, timeout=sandbox_timeout(options, len(inputs)),
                            memory_mb=options.memory_mb, sandbox=options.sandbox, readonly=options.data,
                            hidden=[os.fspath(h) for h in hidden])
        status, message = _how_it_ended(run)
        (out / "executed").mkdir(parents=True, exist_ok=True)
        ran = executed if _regular(executed) else None  # never a link the notebook planted there
        if ran is not None:
            shutil.copyfile(executed, out / "executed" / f"{sub.student}.ipynb")
        context = Context(lab=lab, status=status, executed=ran, out_dir=out_dir)
        checks = run_checks(context)
        graded = exercises.grade_exercises(lab, probes, ran, inputs, stopped=status)
        return Outcome(sub.student, status, time.perf_counter() - start, message, checks, run.sandboxed, graded,
                       answers)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _regular(path: Path) -> bool:
    """A regular file, not a link (the grader reads it outside the sandbox)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _unreadable(notebook: Path) -> str:
    """Why the grader will not read a submitted notebook, outside the sandbox ("" when it will): a link (to
    another student's notebook, or the grader's files) or a notebook over ``NOTEBOOK_LIMIT``."""
    if not _regular(notebook):
        return "invalid notebook: a link or a special file, not a notebook"
    return f"invalid notebook: over {NOTEBOOK_LIMIT >> 20} MB" if notebook.stat().st_size > NOTEBOOK_LIMIT else ""


def _not_run(sub: Submission, lab: labs.Lab, options: Options, status: str, message: str, why: str,
             start: float) -> Outcome:
    """Zero points on everything: the notebook could not be run, or was not (another lab's)."""
    return Outcome(sub.student, status, time.perf_counter() - start, message, failed_checks(lab, why),
                   options.sandbox, exercises.failed_exercises(lab, why))


def _wrong_lab(claimed: str | None, lab: labs.Lab) -> str:
    """Why a notebook that says it belongs to lab ``claimed`` is not graded as ``lab`` ("" when it is fine)."""
    if claimed is None or claimed == lab.name:
        return ""
    try:
        other = labs.get(claimed)
    except LabkitError:
        return f"this is the notebook of {claimed[:80]!r}, not lab {lab.number} ({lab.name})"
    if other.name == lab.name:
        return ""
    return f"this is the notebook of lab {other.number} ({other.name}), not lab {lab.number} ({lab.name})"


def _how_it_ended(run) -> tuple[str, str]:
    """The child's status (its exit code) where it ended by itself, else the sandbox's (timeout, killed...)."""
    lines = (run.stderr or "").strip().splitlines()
    if run.status in ("ok", "failed") and run.returncode in STATUS_OF:
        status = STATUS_OF[run.returncode]
        return status, "" if status == "ok" else (lines[-1][:500] if lines else status)
    if run.status == "timeout":
        return "timeout", f"the notebook ran over {run.message.rsplit(' ', 2)[-2]} s" if run.message else "timeout"
    return ("killed" if run.status == "failed" else run.status), run.message or (lines[-1][:500] if lines else "")
