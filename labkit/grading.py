"""Grade many student notebooks: each executed headless, in its own process and scratch folder.

``labkit grade SUBMISSIONS --lab N --out DIR`` writes ``grades.csv``, one feedback file per
student (failure messages only, never the checks' code), ``summary.md`` and the executed
notebooks. A crashing, endless, memory-hungry or destructive notebook gets its status
(``ok``, ``error``, ``timeout``, ``killed``, ``invalid-notebook``) and never stops the batch.

This is NOT a security sandbox: limits are rlimits, a copy in a scratch folder and, where the
OS allows, a network namespace without network. For real exams run it in a container
(see the README).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from labkit.errors import LabkitError
from labkit.files import atomic_path

STATUSES = ("ok", "error", "timeout", "killed", "invalid-notebook")
_EXIT_FOR = {"ok": 0, "error": 10, "timeout": 11, "killed": 12, "invalid-notebook": 13}
_STATUS_FOR = {v: k for k, v in _EXIT_FOR.items()}


@dataclass
class Submission:
    student: str  # sanitised id: safe as a file name
    path: Path  # the .ipynb, or the student's folder
    notebook: Path | None  # the notebook to run (None: the folder has none)


@dataclass
class Outcome:
    student: str
    status: str
    seconds: float
    message: str = ""
    checks: list = field(default_factory=list)  # list[checks.CheckResult]

    @property
    def total(self) -> float:
        return sum(c.points for c in self.checks)


def sanitize_id(name: str) -> str:
    """A student id safe as a file name: letters, digits, '.', '_', '-' only; no leading dots."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", name.replace("/", "_").replace("\\", "_"))
    base = base.lstrip("._-")[:64]
    return base or "student"


def discover(root: str | os.PathLike) -> list[Submission]:
    """Submissions: ``*.ipynb`` files in ``root`` (id: the file's stem) or per-student folders."""
    root = Path(root)
    if not root.is_dir():
        raise LabkitError(f"submissions folder not found: {root}")
    subs: list[Submission] = []
    seen: set[str] = set()
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") and not entry.name.endswith(".ipynb"):
            continue  # .ipynb_checkpoints and the like
        if entry.is_file() and entry.suffix == ".ipynb":
            stem, nb = entry.stem, entry
        elif entry.is_dir():
            notebooks = sorted(entry.glob("*.ipynb"))
            stem, nb = entry.name, (notebooks[0] if notebooks else None)
        else:
            continue
        sid, n = sanitize_id(stem), 1
        while sid in seen:  # two names that sanitise alike stay apart
            n += 1
            sid = f"{sanitize_id(stem)}-{n}"
        seen.add(sid)
        subs.append(Submission(sid, entry, nb))
    if not subs:
        raise LabkitError(f"no submissions (.ipynb files or per-student folders) in {root}")
    return subs


@cache
def _network_prefix() -> tuple[list[str], str]:
    """A command prefix that runs the child without network, where the OS allows it."""
    if shutil.which("unshare") and shutil.which("ip"):
        probe = ["unshare", "-rn", "sh", "-c", "ip link set lo up"]
        try:
            if subprocess.run(probe, capture_output=True, timeout=10).returncode == 0:
                return [*probe[:-1], 'ip link set lo up && exec "$@"', "labkit-grade"], "network denied"
        except (OSError, subprocess.SubprocessError):
            pass
    return [], "network NOT denied (unshare is not available here)"


def _limits(memory_mb: int, cpu_seconds: int):
    def apply() -> None:
        import resource

        if memory_mb:
            limit = memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        if cpu_seconds:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def _execute_child(argv: list[str]) -> int:
    """Runs inside the limited child process: execute one notebook with papermill."""
    p = argparse.ArgumentParser()
    p.add_argument("notebook")
    p.add_argument("output")
    p.add_argument("--cwd", required=True)
    p.add_argument("--cell-timeout", type=int, required=True)
    p.add_argument("--parameters", default="{}")
    a = p.parse_args(argv)
    import nbformat
    import papermill as pm

    try:
        nb = nbformat.read(a.notebook, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # not JSON, not a notebook, wrong schema
        print(f"invalid notebook: {str(exc).splitlines()[0][:300]}", file=sys.stderr)
        return _EXIT_FOR["invalid-notebook"]
    try:
        pm.execute_notebook(a.notebook, a.output, parameters=json.loads(a.parameters), cwd=a.cwd,
                            kernel_name="python3", execution_timeout=a.cell_timeout, progress_bar=False,
                            log_output=False)
    except Exception as exc:
        if hasattr(exc, "ename"):  # papermill's error for a cell that raised: name and value are enough
            text = f"{exc.ename}: {exc.evalue}"
        else:
            text = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
        print(text[:1000], file=sys.stderr)
        if "Timeout" in type(exc).__name__ or "timed out" in text.lower():
            return _EXIT_FOR["timeout"]
        if type(exc).__name__ == "DeadKernelError" or "MemoryError" in text:
            return _EXIT_FOR["killed"]
        return _EXIT_FOR["error"]
    return _EXIT_FOR["ok"]


def grade_one(sub: Submission, lab: int, out: Path, *, timeout: int, cell_timeout: int, memory_mb: int,
              parameters: dict | None = None) -> Outcome:
    """Execute one submission on a copy in a scratch folder, then check it."""
    from labkit import checks

    start = time.perf_counter()
    if sub.notebook is None:
        return Outcome(sub.student, "invalid-notebook", 0.0, "no .ipynb file in the submission folder",
                       checks.failed_checks(lab, "the notebook could not be run"))
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
        executed = scratch / "executed.ipynb"
        out_dir = work / "labkit-out"
        params = {"profile": "quick", "model_name": "efficientnet_lite0", "out_dir": str(out_dir),
                  **(parameters or {})}
        prefix, _ = _network_prefix()
        cmd = [*prefix, sys.executable, "-m", "labkit.grading", "_execute", str(notebook), str(executed),
               "--cwd", str(work), "--cell-timeout", str(cell_timeout), "--parameters", json.dumps(params)]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg", "HOME": str(scratch)}
        env.pop("PYTEST_CURRENT_TEST", None)
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True, preexec_fn=_limits(memory_mb, timeout))
        try:
            _, err = proc.communicate(timeout=timeout)
            status = _STATUS_FOR.get(proc.returncode, "killed")
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            status, err = "timeout", f"the notebook ran over {timeout} s"
        lines = (err or "").strip().splitlines()
        message = "" if status == "ok" else (lines[-1][:500] if lines else status)
        if status == "killed" and not lines:
            message = "the process was killed (memory or CPU limit)"
        (out / "executed").mkdir(parents=True, exist_ok=True)
        if executed.is_file():
            shutil.copyfile(executed, out / "executed" / f"{sub.student}.ipynb")
        context = checks.Context(lab=lab, status=status, executed=executed if executed.is_file() else None,
                                 out_dir=out_dir)
        results = checks.run_checks(context)
        return Outcome(sub.student, status, time.perf_counter() - start, message, results)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def grade(submissions: str | os.PathLike, lab: int, out: str | os.PathLike, *, jobs: int = 1, timeout: int = 1800,
          cell_timeout: int = 600, memory_mb: int = 8192, parameters: dict | None = None,
          progress: bool = True) -> list[Outcome]:
    """Grade every submission in a folder; write grades.csv, feedback/ and summary.md to ``out``."""
    from tqdm import tqdm

    from labkit import checks

    checks.check_lab(lab)
    for name, value in (("jobs", jobs), ("timeout", timeout), ("cell_timeout", cell_timeout)):
        if int(value) < 1:
            raise LabkitError(f"{name} must be at least 1, got {value}")
    subs = discover(submissions)
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise LabkitError(f"cannot write to the output folder {out}: {exc.strerror}") from None
    _, net = _network_prefix()
    print(f"labkit grade: {len(subs)} submissions, lab {lab}, {jobs} worker(s), {net}", file=sys.stderr)
    outcomes: list[Outcome] = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(grade_one, s, lab, out, timeout=timeout, cell_timeout=cell_timeout,
                               memory_mb=memory_mb, parameters=parameters): s for s in subs}
        for fut in tqdm(as_completed(futures), total=len(futures), desc="grading", disable=not progress):
            s = futures[fut]
            try:
                outcomes.append(fut.result())
            except Exception as exc:  # a grader bug for one student must not stop the batch
                outcomes.append(Outcome(s.student, "error", 0.0, f"grader error: {exc}",
                                        checks.failed_checks(lab, "grader error")))
    outcomes.sort(key=lambda o: o.student)
    write_outputs(outcomes, lab, out)
    return outcomes


def _atomic_write(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_outputs(outcomes: list[Outcome], lab: int, out: Path) -> None:
    """grades.csv, feedback/<student>.md and summary.md."""
    from labkit import checks

    names = [c.name for c in checks.failed_checks(lab, "")]
    rows = [["student", "status", "seconds", *names, "total", "max"]]
    maximum = sum(c.max_points for c in checks.failed_checks(lab, ""))
    for o in outcomes:
        points = {c.name: c.points for c in o.checks}
        rows.append([o.student, o.status, f"{o.seconds:.1f}", *[points.get(n, 0) for n in names],
                     o.total, maximum])
    with atomic_path(out / "grades.csv") as tmp, open(tmp, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    (out / "feedback").mkdir(exist_ok=True)
    for o in outcomes:
        lines = [f"# Lab {lab}: feedback for {o.student}", "", f"Status: **{o.status}**", "",
                 f"Score: {o.total:g} / {maximum:g}", ""]
        if o.message:
            lines += ["What happened when your notebook ran:", "", "```", o.message, "```", ""]
        lines += ["| check | points | message |", "|---|---|---|"]
        for c in o.checks:
            lines.append(f"| {c.name} | {c.points:g} / {c.max_points:g} | {'ok' if c.passed else c.message} |")
        _atomic_write(out / "feedback" / f"{o.student}.md", "\n".join(lines) + "\n")
    summary = [f"# Lab {lab}: batch summary", "", f"{len(outcomes)} submissions: " +
               ", ".join(f"{s} {sum(o.status == s for o in outcomes)}" for s in STATUSES), "",
               "| check | pass rate |", "|---|---|"]
    for n in names:
        passed = sum(any(c.name == n and c.passed for c in o.checks) for o in outcomes)
        summary.append(f"| {n} | {passed}/{len(outcomes)} |")
    summary += ["", "Slowest notebooks:", ""]
    for o in sorted(outcomes, key=lambda o: -o.seconds)[:5]:
        summary.append(f"- {o.student}: {o.seconds:.1f} s ({o.status})")
    _atomic_write(out / "summary.md", "\n".join(summary) + "\n")


def _cmd_grade(args) -> int:
    outcomes = grade(args.submissions, args.lab, args.out, jobs=args.jobs, timeout=args.timeout,
                     cell_timeout=args.cell_timeout, memory_mb=args.memory_mb)
    width = max(len(o.student) for o in outcomes)
    for o in outcomes:
        print(f"{o.student:<{width}}  {o.status:<16} {o.total:>5g}  {o.seconds:6.1f} s")
    print(f"grades: {Path(args.out) / 'grades.csv'}; feedback: {Path(args.out) / 'feedback'}; "
          f"summary: {Path(args.out) / 'summary.md'}")
    return 0


def add_cli(sub) -> None:
    """Register ``labkit grade``."""
    p = sub.add_parser("grade", help="execute and check a folder of student notebooks")
    p.add_argument("submissions", help="folder of .ipynb files or per-student folders")
    p.add_argument("--lab", type=int, required=True, help="lab number (1-4)")
    p.add_argument("--out", required=True, help="output folder for grades.csv, feedback/, summary.md")
    p.add_argument("--jobs", type=int, default=1, help="parallel workers (default 1)")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per notebook (default 1800)")
    p.add_argument("--cell-timeout", type=int, default=600, help="seconds per cell (default 600)")
    p.add_argument("--memory-mb", type=int, default=8192, help="address-space limit per notebook (default 8192)")
    p.set_defaults(func=_cmd_grade)


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "_execute":
    raise SystemExit(_execute_child(sys.argv[2:]))
