"""Grading one submission: a copy in a scratch folder, executed in the sandbox by the grading child, then the
lab's checks on what it left there (never on what it printed)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from labkit import labs
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


@dataclass
class Outcome:
    student: str
    status: str  # labkit.execute.STATUSES, or "error" when the grader itself failed on it
    seconds: float
    message: str = ""
    checks: list[CheckResult] = field(default_factory=list)
    sandboxed: bool = True

    @property
    def total(self) -> float:
        return sum(c.points for c in self.checks)

    def record(self) -> dict:
        """As data: what the cluster returns, caches and the table reads."""
        return {"status": self.status, "seconds": round(self.seconds, 1), "message": self.message,
                "sandbox": "yes" if self.sandboxed else "NO", "total": self.total,
                **{c.name: c.points for c in self.checks}, "checks": [asdict(c) for c in self.checks]}

    @classmethod
    def from_record(cls, student: str, record: dict) -> Outcome:
        return cls(student, record.get("status", "error"), float(record.get("seconds", 0.0)),
                   record.get("message", ""), [CheckResult(**c) for c in record.get("checks", [])],
                   record.get("sandbox", "yes") == "yes")


def grade_one(sub: Submission, lab: labs.Lab, out: Path, options: Options, *, hidden=(), env=None) -> Outcome:
    """Execute one submission on a copy in a scratch folder (the sandbox's only writable place), then check it.
    ``hidden``: folders the child must not see even where a mounted one holds them (the batch, ``out``)."""
    start = time.perf_counter()
    if sub.notebook is None:
        return Outcome(sub.student, "invalid", 0.0, "no .ipynb file in the submission folder",
                       failed_checks(lab, "the notebook could not be run"), options.sandbox)
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
        executed, out_dir = scratch / "executed.ipynb", work / "labkit-out"
        params = {**lab.graded_with, "out_dir": str(out_dir), **options.parameters}
        argv = [sys.executable, "-m", "labkit.grading.child", str(notebook), str(executed), "--cwd", str(work),
                "--cell-timeout", str(options.cell_timeout), "--parameters", json.dumps(params)]
        run = run_sandboxed(argv, workdir=scratch, env=env, timeout=options.timeout, memory_mb=options.memory_mb,
                            sandbox=options.sandbox, readonly=options.data, hidden=[os.fspath(h) for h in hidden])
        status, message = _how_it_ended(run)
        (out / "executed").mkdir(parents=True, exist_ok=True)
        if executed.is_file():
            shutil.copyfile(executed, out / "executed" / f"{sub.student}.ipynb")
        context = Context(lab=lab, status=status, executed=executed if executed.is_file() else None,
                          out_dir=out_dir)
        return Outcome(sub.student, status, time.perf_counter() - start, message, run_checks(context),
                       run.sandboxed)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _how_it_ended(run) -> tuple[str, str]:
    """The child's status (its exit code) where it ended by itself, else the sandbox's (timeout, killed...)."""
    lines = (run.stderr or "").strip().splitlines()
    if run.status in ("ok", "failed") and run.returncode in STATUS_OF:
        status = STATUS_OF[run.returncode]
        return status, "" if status == "ok" else (lines[-1][:500] if lines else status)
    if run.status == "timeout":
        return "timeout", f"the notebook ran over {run.message.rsplit(' ', 2)[-2]} s" if run.message else "timeout"
    return ("killed" if run.status == "failed" else run.status), run.message or (lines[-1][:500] if lines else "")
