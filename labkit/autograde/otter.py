"""``labkit assign --format otter``: each lab as a master notebook for otter-grader 7's ``otter assign``, whose
tests are labkit's checks (``labkit.autograde``), and a ``requirements.txt`` that installs labkit from a wheel
shipped in the autograder zip.

Per coding exercise (its name and points from the lab's declaration) one otter question with exception-based tests
(otter's ``test_case`` format): a public test worth 0 (the self-check, ``check("2.2")``'s), then one hidden test
per hidden case, each worth the exercise's points over their number (test k passes when at least k cases pass in
the clean room, so the sum is labkit's partial credit). Written questions are otter manual questions whose
student cell is labkit's answer cell. Solution regions become otter's ``# BEGIN SOLUTION NO PROMPT`` followed by a
``# BEGIN PROMPT`` string holding labkit's stub, so students get ``raise NotImplementedError("exercise 2.2 is not
done yet")`` rather than otter's ``...``. No otter cell reaches students (no init, check, check-all or export
cell): the student's environment is labkit's alone, and the self-checks are labkit's ``check()`` cells; otter
is needed where the notebook is graded (the autograder's environment installs it, as ``otter run`` needs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from labkit import assign
from labkit.assign import Master, parse_master
from labkit.autograde import _export as x
from labkit.autograde.kernel import cases
from labkit.errors import LabkitError
from labkit.exercises import Exercise

__all__ = ["AUTOGRADER_FILES", "PYTHON", "build_wheel", "export", "otter_master"]

PYTHON = "3.11"  # the grading image's Python: labkit's pins (TensorFlow 2.21) are for 3.10 to 3.12
AUTOGRADER_FILES = "/autograder/source/files"  # where otter's grading image unpacks the autograder zip's files


def _raw(text: str) -> dict:
    return x.new_cell("raw", text)


def _code(text: str) -> dict:
    return x.new_cell("code", text)


def config(master: Master, wheel: str) -> str:
    """The ``# ASSIGNMENT CONFIG`` cell: the master's own keys, then what labkit's tests need."""
    import yaml

    conf = dict(master.config)
    conf.setdefault("name", master.lab.name)
    conf.update({"requirements": "requirements.txt", "files": [*conf.get("files", []), wheel],
                 "python_version": PYTHON, "init_cell": False, "check_all_cell": False, "export_cell": False,
                 "run_tests": False, "tests": {"files": True, "ok_format": False}})
    return "# ASSIGNMENT CONFIG\n" + yaml.safe_dump(conf, sort_keys=False).strip()


def _prompt(lines: list[str], where: str) -> list[str]:
    """Lines only students get: otter's ``# BEGIN PROMPT`` string (a statement that does nothing in the solution)."""
    quote = next((q for q in ('"""', "'''") if not any(q in line for line in lines)), None)
    if quote is None:
        raise LabkitError(f"{where}: a line students get holds both \"\"\" and ''': otter's prompt cannot carry it")
    indent = next((line[:len(line) - len(line.lstrip())] for line in lines if line.strip()), "")
    return [f"{indent}r{quote} # BEGIN PROMPT", *lines, f"{indent}{quote} # END PROMPT"]


def solution_source(item: x.Item) -> str:
    """A solution cell in otter's in-cell markers: what only the solution has in a ``# BEGIN SOLUTION NO PROMPT``
    region, what only students get (labkit's stub) in a ``# BEGIN PROMPT`` string after it."""
    out: list[str] = []
    where = f"exercise {item.exercise.name}"
    for same, student, solution in x.hunks(item.student["source"], item.solution["source"]):
        if same:
            out += student
            continue
        if solution:
            indent = next((s[:len(s) - len(s.lstrip())] for s in solution if s.strip()), "")
            out += [f"{indent}# BEGIN SOLUTION NO PROMPT", *solution, f"{indent}# END SOLUTION"]
        if student:
            out += _prompt(student, where)
    return "\n".join(out)


def _test(config_lines: list[str], name: str, body: str, args: str = "") -> dict:
    conf = "\n".join(['""" # BEGIN TEST CONFIG', *config_lines, '""" # END TEST CONFIG'])
    return _code(f"{conf}\ndef {name}({args}):\n    from labkit import autograde\n    {body}")


def tests(ex: Exercise, seed: int) -> list[dict]:
    """The TESTS block of a coding exercise: the public checks (0 points), then one hidden test per hidden case."""
    n = cases(ex.name, seed)
    cells = [_test(["points: 0", "hidden: false"], "public_checks", x.public_call(ex, "env"), "env")]
    for k in range(1, n + 1):
        cells.append(_test(["hidden: true"], f"hidden_cases_{k}_of_{n}", x.hidden_call(ex, seed, k, n)))
    return [_raw("# BEGIN TESTS"), *cells, _raw("# END TESTS")]


def otter_master(master: Master, *, seed: int, wheel: str) -> dict:
    """The lab as a master notebook for ``otter assign`` (an nbformat notebook)."""
    import yaml

    cells = [_raw(config(master, wheel))]
    for ex, group in x.questions(x.items(master)):
        if ex is None:
            for item in group:
                x.graded_parameters(master, item.cell)
                cells.append(item.cell)
            continue
        conf = {"name": ex.name, "points": ex.points, **({"manual": True} if ex.written else {"check_cell": False})}
        cells.append(_raw("# BEGIN QUESTION\n" + yaml.safe_dump(conf, sort_keys=False).strip()))
        block = None
        for item in group:
            want = {"shared": None, "student": "PROMPT"}.get(item.role, "SOLUTION")
            if want != block:
                cells += [_raw(f"# END {block}")] if block else []
                cells += [_raw(f"# BEGIN {want}")] if want else []
                block = want
            cell = item.cell
            if item.role == "solution":
                cell["source"] = solution_source(item)
            cells.append(cell)
        cells += [_raw(f"# END {block}")] if block else []
        cells += [] if ex.written else tests(ex, seed)
        cells.append(_raw("# END QUESTION"))
    return x.notebook(master, cells)


def build_wheel(folder: str | os.PathLike) -> Path:
    """labkit's wheel, built by pip from labkit's source tree (copied, so the tree is left as it was) into
    ``folder``; its dependencies are labkit's pins."""
    import labkit

    root = Path(labkit.__file__).resolve().parents[1]
    if not (root / "pyproject.toml").is_file():
        raise LabkitError(f"labkit is installed without its source tree (no pyproject.toml beside {root / 'labkit'}): "
                          "build its wheel from the repository and pass it (wheel=...)")
    with tempfile.TemporaryDirectory(prefix="labkit-wheel-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(root / "labkit", src / "labkit", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(root / name, src / name)
        run = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(folder),
                              str(src)], capture_output=True, text=True)
    built = sorted(Path(folder).glob("labkit-*.whl"))
    if run.returncode or not built:
        raise LabkitError(f"pip could not build labkit's wheel: {(run.stderr or run.stdout).strip()[-500:]}")
    return built[-1]


def export(masters: Sequence[str | os.PathLike], out: str | os.PathLike, *, seed: int,
           wheel: str | os.PathLike | None = None) -> list[Path]:
    """Write ``OUT/<lab>.ipynb`` (a master for ``otter assign``) for each master notebook, ``OUT/requirements.txt``
    and labkit's wheel (``wheel``: one already built; default: built here). Every master is checked first;
    nothing is written on error. Returns the export's files."""
    parsed = [parse_master(path) for path in masters]
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="labkit-otter-") as tmp:
        built = Path(wheel) if wheel is not None else build_wheel(tmp)
        if not built.is_file() or built.suffix != ".whl":
            raise LabkitError(f"not a wheel file: {built}")
        files: dict[Path, str | bytes] = {
            out / f"{m.lab.name}.ipynb": x.writes(otter_master(m, seed=seed, wheel=built.name))
            for m in parsed}
        files[out / "requirements.txt"] = (
            "# labkit and its pinned dependencies (TensorFlow, Keras, ...), from the wheel in the autograder zip\n"
            f"{AUTOGRADER_FILES}/{built.name}\n")
        files[out / built.name] = built.read_bytes()
        assign.write_files(files, out)
    return list(files)
