"""The clean room: each coding exercise of a submission tested on the grader's hidden cases, away from the
student's kernel.

For one exercise: the code it needs is cut out of the SUBMITTED notebook (``labkit.exercises.source``: its
functions' last definitions and what they use, never the executed notebook) and run in a fresh interpreter of
its own, in the sandbox, by ``labkit.exercises.harness``. That interpreter sees a view of the labkit package,
copied and rewritten here, in which the grader's checkers and labkit's own implementation of the exercise are
stubs raising ``labkit.errors.Unavailable``: a package without them, not an import hook that code can undo (the
real package is not mounted, and is masked where it lies inside a mounted folder). Each case's outputs come back
through the untrusted reader and are compared with labkit's reference in the grader's own process; each case
passed earns its share of the exercise's points.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import labkit
from labkit.exercises import Exercise
from labkit.exercises.harness import Case, encode_cases
from labkit.exercises.source import Program, labkit_names, program
from labkit.grading.checks import CheckResult
from labkit.grading.isolate import run_sandboxed
from labkit.untrusted import read_json, read_npz

__all__ = ["STARTUP", "Room", "grade_exercise", "package_view", "run_room", "uses_reference"]

STARTUP = 60  # seconds a clean room has besides its cases' time: a fresh interpreter imports TensorFlow
STATUS_LIMIT = 4096  # bytes of one case's status
OUTPUT_LIMIT = 64 << 20  # bytes of one case's outputs


# -- the package view -------------------------------------------------------------------------------------------

def _unavailable(what: str) -> list[ast.stmt]:
    message = f"labkit's own {what} is not available where your exercise is tested: write it yourself"
    return ast.parse(f"raise __import__('labkit.errors', fromlist=['Unavailable']).Unavailable({message!r})").body


def _stub_functions(tree: ast.Module, qualnames: set[str] | None) -> None:
    """Replace the bodies of the functions (and classes' methods) named in ``qualnames`` by a ``raise
    Unavailable``; a stubbed class raises when it is made. ``qualnames`` None: every function and method but
    the constructors (the module's classes can still be made: ``labkit.labs`` declares its checkers)."""
    def visit(body: list, prefix: str, inside: bool) -> None:
        for node in body:
            name = f"{prefix}{getattr(node, 'name', '')}"
            wanted = inside or qualnames is None and not name.endswith(".__init__") or name in (qualnames or ())
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and wanted:
                node.body = _unavailable(name)
            elif isinstance(node, ast.ClassDef):
                whole = qualnames is not None and name in qualnames
                visit(node.body, f"{name}.", inside or whole)
                if whole and not any(isinstance(n, ast.FunctionDef) and n.name == "__init__" for n in node.body):
                    init = ast.parse("def __init__(self, *args, **kwargs): pass").body[0]
                    init.body = _unavailable(name)
                    node.body.insert(0, init)

    visit(tree.body, "", False)


def _where(reference: str) -> tuple[Path, str]:
    """The source file and qualified name of one of labkit's functions: ``"labkit.attacks.fooling:fooling_images"``
    or its public path ``"labkit.attacks.fooling_images"``."""
    import importlib

    if ":" in reference:
        module, qualname = reference.split(":", 1)
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    else:
        module, _, name = reference.rpartition(".")
        obj = getattr(importlib.import_module(module), name)
    obj = inspect.unwrap(obj)
    return Path(inspect.getsourcefile(obj)).resolve(), obj.__qualname__


def checker_modules() -> set[Path]:
    """The source files of every lab's checkers (what the grader compares with: never in a clean room)."""
    from labkit import labs

    return {Path(inspect.getsourcefile(type(ex.checker))).resolve()
            for lab in labs.LABS.values() for ex in lab.exercises if ex.checker is not None}


def package_view(exercise: Exercise, base: str | os.PathLike) -> Path:
    """A copy of the labkit package (its Python files) under ``base``, without the grader's checkers (their
    functions stubbed, so that ``labkit.labs`` still imports) and without labkit's own implementation of
    ``exercise``; returns the folder to put on ``PYTHONPATH``."""
    package = Path(labkit.__file__).resolve().parent
    stubs: dict[Path, set[str] | None] = {path: None for path in checker_modules()}
    for reference in exercise.reference:
        path, qualname = _where(reference)
        if stubs.get(path, set()) is not None:
            stubs.setdefault(path, set()).add(qualname)
    root = Path(base) / f"view-{exercise.name}"
    for source in sorted(package.rglob("*.py")):
        target = root / "labkit" / source.relative_to(package)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text()
        if source in stubs:
            tree = ast.parse(text)
            _stub_functions(tree, stubs[source])
            text = ast.unparse(tree) + "\n"
        target.write_text(text)
    return root


@cache
def _views(exercise: Exercise) -> Path:
    """The view of ``exercise`` for this process, made once (a temporary folder removed at exit)."""
    import atexit

    base = Path(tempfile.mkdtemp(prefix="labkit-views-"))
    atexit.register(shutil.rmtree, base, True)
    return package_view(exercise, base)


def _resolve(dotted: str):
    """The object a dotted labkit name stands for (None if it stands for nothing)."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for part in parts[cut:]:
                obj = getattr(obj, part)
        except AttributeError:
            return None
        return obj
    return None


def uses_reference(prog: Program, exercise: Exercise) -> list[str]:
    """The names of labkit's own implementation of ``exercise`` that the student's code names (static: the
    honest-but-lazy call that the clean room would stop anyway)."""
    wanted = {}
    for reference in exercise.reference:
        _, qualname = _where(reference)
        wanted[qualname] = _resolve(reference.replace(":", "."))
    found = []
    for name in sorted(labkit_names(prog.source)):
        obj = _resolve(name)
        hits = [q for q, ref in wanted.items() if obj is not None and obj is ref]
        found += [q for q in hits if q not in found]
    return found


# -- running a room ---------------------------------------------------------------------------------------------

@dataclass
class Room:
    """How one clean room ended: the sandbox's status, the student's program's, and each case's result (``("ok",
    outputs)`` or ``(status, error type)``; None: the case left nothing, e.g. the room ran out of time)."""

    status: str
    message: str
    program: str | None  # "ok", "raised", "reference", or None (it left no report)
    error: str = ""
    results: list = field(default_factory=list)


def _copy_files(source: Path, target: Path) -> None:
    """A submission folder's regular files (links and special files left out, never followed), for the code's
    relative paths."""
    for folder, _dirs, files in os.walk(source):  # os.walk does not follow links to folders
        rel = Path(folder).relative_to(source)
        (target / rel).mkdir(parents=True, exist_ok=True)
        for name in files:
            path = Path(folder) / name
            try:
                regular = stat.S_ISREG(os.lstat(path).st_mode)
            except OSError:
                continue
            if regular:
                shutil.copyfile(path, target / rel / name, follow_symlinks=False)


def run_room(prog: Program, exercise: Exercise, cases: Sequence[Case], *, timeout: float, memory_mb: int,
             sandbox: bool = True, files: str | os.PathLike | None = None, data: Sequence[str] = (),
             hidden: Sequence[str] = (), env=None) -> Room:
    """Run ``prog`` and then ``exercise``'s functions on ``cases`` in a fresh sandboxed interpreter on the
    exercise's package view; ``files``: the submission's folder (its files are copied beside the code)."""
    view = _views(exercise)
    scratch = Path(tempfile.mkdtemp(prefix=f"labkit-room-{exercise.name}-"))
    try:
        job, work = scratch / "job", scratch / "work"
        job.mkdir()
        work.mkdir()
        if files is not None and Path(files).is_dir():
            _copy_files(Path(files), work)
        (job / "program.py").write_text(prog.source)
        (job / "job.json").write_text(json.dumps({"defines": list(exercise.defines), "cwd": str(work)}))
        encode_cases(cases, job)
        real = str(Path(labkit.__file__).resolve().parent)
        env = {**(env or {}), "LABKIT_MAX_STEPS": ""}  # the student's code and labkit's alike: no step cap
        run = run_sandboxed([sys.executable, "-m", "labkit.exercises.harness", str(job)], workdir=scratch, env=env,
                            timeout=timeout, memory_mb=memory_mb, sandbox=sandbox, readonly=[str(view), *data],
                            hidden=[real, *hidden], labkit_path=str(view))
        report = read_json(scratch, "job/out/program.json", STATUS_LIMIT)
        report = report if isinstance(report, dict) else {}
        results = []
        for i in range(len(cases)):
            status = read_json(scratch, f"job/out/{i}.json", STATUS_LIMIT)
            if not isinstance(status, dict) or not isinstance(status.get("status"), str):
                results.append(None)
            elif status["status"] == "ok":
                outputs = read_npz(scratch, f"job/out/{i}.npz", OUTPUT_LIMIT)
                results.append(("ok", outputs) if outputs is not None else ("bad result", "unreadable"))
            else:
                results.append((status["status"], str(status.get("error", ""))[:60]))
        program_status = report.get("status") if isinstance(report.get("status"), str) else None
        return Room(run.status, run.message, program_status, str(report.get("error", ""))[:60], results)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# -- grading ----------------------------------------------------------------------------------------------------

def _error_name(name: str) -> str:
    return name if name.isidentifier() and len(name) <= 60 else "an error"


def why_not(ex: Exercise, prog: Program, room: Room | None) -> str:
    """Why no case of ``ex`` could be graded ("" when the cases ran)."""
    if prog.missing:
        return f": no function {', '.join(prog.missing)}"
    named = uses_reference(prog, ex)
    if named:
        return (f" uses labkit's own {', '.join(named)}, which implements the exercise: write it yourself (it is "
                "left out when your code is tested)")
    if room is None:
        return ""
    if room.program == "reference":
        return (" calls labkit's own implementation of the exercise (left out when your code is tested): write it "
                "yourself")
    if room.program == "raised":
        hint = (f"; it uses {', '.join(prog.unresolved)}, which no cell of the notebook defines (the grader runs "
                "your exercise's cells alone: pass what a function needs as an argument)") if prog.unresolved else ""
        broken = f"; {prog.broken[0]}" if prog.broken else ""
        return f": the notebook code it needs raised {_error_name(room.error)}{hint}{broken}"
    if room.program is None:
        return (" could not be tested: the notebook code it needs ran over its time" if room.status == "timeout"
                else f" could not be tested ({room.status}: {room.message or 'no report'})")
    return ""


def case_problem(ex: Exercise, case: Case, result, stopped: str = "was stopped") -> str:
    """What is wrong with one case's result ("" when it is right): graded here, against labkit's reference;
    ``stopped``: why a case left no result."""
    if result is None:
        return stopped
    status, detail = result
    if status == "ok":
        try:
            return ex.checker.grade(case, detail)
        except Exception as exc:  # noqa: BLE001 - outputs of the wrong form are the exercise's failure
            return f"its result has the wrong form ({type(exc).__name__})"
    if status == "not done":
        return "not done yet"
    if status == "missing":
        return f"no function {detail}" if all(n.strip().isidentifier() for n in str(detail).split(",")) \
            else "a function is missing"
    if status == "reference":
        return "it calls labkit's own implementation of the exercise (left out when your code is tested)"
    if status == "bad result":
        return f"what {', '.join(ex.defines)} returned is not what was asked for ({_error_name(detail)})"
    return f"{', '.join(ex.defines)} raised {_error_name(detail)}"


def score(ex: Exercise, cases: Sequence[Case], results: Sequence, stopped: str = "was stopped") -> CheckResult:
    """The exercise's points: its share of the cases passed; the message names the first failures by what
    their case is about, never a value."""
    problems = [case_problem(ex, case, result, stopped) for case, result in zip(cases, results, strict=True)]
    passed = sum(not p for p in problems)
    if problems and all(p == "not done yet" for p in problems):
        return CheckResult(ex.name, 0, ex.points, False, f"exercise {ex.name} is not done yet", done=False)
    if problems and all(result is None for result in results):
        return CheckResult(ex.name, 0, ex.points, False, f"exercise {ex.name} {stopped}")
    points = round(ex.points * passed / max(len(cases), 1), 2)
    if passed == len(cases):
        return CheckResult(ex.name, ex.points, ex.points, True, "")
    failed = [(c.about, p) for c, p in zip(cases, problems, strict=True) if p]
    said = "; ".join(f"{about or 'a hidden test'}: {problem}" for about, problem in failed[:2])
    more = f" (and {len(failed) - 2} more)" if len(failed) > 2 else ""
    return CheckResult(ex.name, points, ex.points, False,
                       f"exercise {ex.name}: {passed} of {len(cases)} hidden tests pass; {said}{more}")


def exercise_seed(seed: int, student: str, name: str) -> int:
    """The seed (32 bits) of one student's hidden cases for exercise ``name``, from the grader's seed, the student
    and the exercise: each student gets other cases, the same on every rerun; a hash that does not give the
    grader's seed back from the cases it made."""
    return int.from_bytes(hashlib.sha256(f"{int(seed)}\0{student}\0{name}".encode()).digest()[:4], "big")


def grade_exercise(ex: Exercise, nb, *, seed: int, student: str, timeout: float, memory_mb: int,
                   sandbox: bool = True, files=None, data: Sequence[str] = (), hidden: Sequence[str] = (), env=None,
                   extra: Sequence[Case] = ()) -> tuple[CheckResult, list]:
    """Exercise ``ex`` of notebook ``nb`` on its hidden cases in a clean room: its result, and the results of
    ``extra`` cases (a lab check's own cases, run after the hidden ones on the same code)."""
    prog = program(nb, ex)
    why = why_not(ex, prog, None)
    if why:
        return (CheckResult(ex.name, 0, ex.points, False, f"exercise {ex.name}{why}", done=not prog.missing),
                [None] * len(extra))
    cases = ex.checker.cases(exercise_seed(seed, student, ex.name))
    room = run_room(prog, ex, [*cases, *extra], timeout=STARTUP + timeout * (1 + len(extra)), memory_mb=memory_mb,
                    sandbox=sandbox, files=files, data=data, hidden=hidden, env=env)
    why = why_not(ex, prog, room)
    if why:
        return CheckResult(ex.name, 0, ex.points, False, f"exercise {ex.name}{why}"), [None] * len(extra)
    stopped = f"ran over {timeout:g} s" if room.status == "timeout" else f"was stopped ({room.status})"
    return score(ex, cases, room.results[:len(cases)], stopped), room.results[len(cases):]
