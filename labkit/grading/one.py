"""Grading one submission: its notebook run in the sandbox (does it run to its end?), its coding exercises tested
in clean rooms on the grader's hidden cases (``labkit.grading.cleanroom``), then the lab's checks on what the
grader observed and recomputed itself. What the sandbox wrote is read by ``labkit.untrusted`` only."""

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
from labkit.errors import LabkitError, uncapped
from labkit.execute import EXIT_STATUS, INTERRUPT_GRACE, check_notebook
from labkit.grading import exercises
from labkit.grading.checks import CheckResult, failed_checks, run_checks
from labkit.grading.isolate import run_sandboxed
from labkit.grading.submissions import Submission
from labkit.labs import Context
from labkit.untrusted import read_notebook


@dataclass
class Options:
    """How every submission of a batch runs: limits, the sandbox, extra notebook parameters."""

    timeout: float = 1800
    cell_timeout: float = 600
    memory_mb: int = 8192
    sandbox: bool = True
    parameters: dict = field(default_factory=dict)
    data: tuple[str, ...] = ()  # files or folders every submission may read (read-only in the sandbox)
    exercise_timeout: float = 60  # seconds for each coding exercise's hidden tests (in its clean room)
    seed: int = 0  # the grader's seed of the hidden inputs (instructors: a secret one)


NOTEBOOK_LIMIT = 256 << 20  # bytes of a submitted notebook (the grader reads it: its exercises' code)
STARTUP = 30  # seconds the sandbox allows besides the notebook's deadline (start, writes)
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}  # for a notebook with none


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
        return round(sum(c.points for c in self.checks) + sum(e.points for e in self.exercises), 2)

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
    """Run one submission's notebook on a copy in a scratch folder (the sandbox's only writable place), test its
    exercises in clean rooms, then check it. ``hidden``: folders the sandboxes must not see even where a mounted
    one holds them (the batch, ``out``). A notebook of another lab is not run (``rejected``)."""
    start = time.perf_counter()
    if sub.problem:
        return _not_run(sub, lab, options, "invalid", sub.problem, "the submission could not be run", start)
    scratch = Path(tempfile.mkdtemp(prefix=f"labkit-grade-{sub.student}-"))
    try:
        work = scratch / "work"
        if sub.path.is_dir():
            shutil.copytree(sub.path, work, symlinks=True)
            notebook = work / sub.notebook.name
        else:
            work.mkdir()
            notebook = work / "submission.ipynb"
            shutil.copyfile(sub.path, notebook, follow_symlinks=False)
        invalid = _unreadable(notebook) or check_notebook(notebook)
        if invalid:
            return _not_run(sub, lab, options, "invalid", invalid, "the notebook could not be run", start)
        import nbformat

        nb = nbformat.read(notebook, as_version=4)
        wrong = exercises.wrong_lab(nb, lab)
        if wrong:
            return _not_run(sub, lab, options, "rejected", wrong, "the notebook was not run", start)
        answers = exercises.answers(nb, lab)  # from the submission itself, never from what ran
        if not isinstance(nb.metadata.get("kernelspec"), dict) or not nb.metadata.kernelspec.get("name"):
            nb.metadata["kernelspec"] = dict(KERNELSPEC)  # written by a script or jupytext: the lab's kernel
            nbformat.write(nb, notebook)
        out_dir = work / "labkit-out"
        params = {**lab.graded_with, "out_dir": str(out_dir), **options.parameters}
        argv = [sys.executable, "-m", "labkit.execute", str(notebook), str(scratch / "executed.ipynb"), "--cwd",
                str(work), "--cell-timeout", str(options.cell_timeout), "--timeout", str(options.timeout),
                "--keep-going", "--parameters", json.dumps(params)]
        run = run_sandboxed(argv, workdir=scratch, env=env, timeout=options.timeout + INTERRUPT_GRACE + STARTUP,
                            memory_mb=options.memory_mb, sandbox=options.sandbox, readonly=options.data,
                            hidden=[os.fspath(h) for h in hidden])
        status, message = _how_it_ended(run)
        executed = read_notebook(scratch, "executed.ipynb")  # outputs capped; never through a link
        if executed is not None:
            (out / "executed").mkdir(parents=True, exist_ok=True)
            nbformat.write(executed, out / "executed" / f"{sub.student}.ipynb")
        graded, probed = exercises.grade_exercises(
            nb, lab, _resolved(lab, params), seed=options.seed, student=sub.student,
            timeout=options.exercise_timeout, memory_mb=options.memory_mb, sandbox=options.sandbox,
            files=sub.path if sub.path.is_dir() else None, data=options.data, hidden=[os.fspath(h) for h in hidden],
            env=env)
        context = Context(lab=lab, status=status, root=scratch, notebook=executed,
                          out_dir=str(out_dir.relative_to(scratch)), exercises=graded, probed=probed)
        return Outcome(sub.student, status, time.perf_counter() - start, message, run_checks(context),
                       run.sandboxed, graded, answers)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _resolved(lab: labs.Lab, params: dict) -> dict:
    """The lab's parameters as the graded notebook gets them (what a lab check's own case is made from), loops at
    their whole length: a student's loop knows no ``LABKIT_MAX_STEPS``."""
    try:
        with uncapped():
            return lab.resolve({k: v for k, v in params.items() if k in lab.param_names})
    except LabkitError:
        return {}


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


def _how_it_ended(run) -> tuple[str, str]:
    """The executor's status (its exit code) where it ended by itself, else the sandbox's (timeout, killed...)."""
    lines = (run.stderr or "").strip().splitlines()
    if run.status in ("ok", "failed") and run.returncode in EXIT_STATUS:
        status = EXIT_STATUS[run.returncode]
        return status, "" if status == "ok" else (lines[-1][:500] if lines else status)
    if run.status == "timeout":
        return "timeout", f"the notebook ran over {run.message.rsplit(' ', 2)[-2]} s" if run.message else "timeout"
    return ("killed" if run.status == "failed" else run.status), run.message or (lines[-1][:500] if lines else "")
