"""``labkit check NOTEBOOK``: is a lab notebook ready to hand in? Also what ``labkit run`` reports per exercise.

It reads the saved notebook and runs none of the lab (a few seconds): each coding exercise's code is cut out of
the notebook (``labkit.exercises.source.program``: its functions and the statements they need), run alone, and
given its public checks (``labkit.student.status``: passes, fails, not done); each written question is answered
or not (its answer cells, read as the grader reads them); the cells whose saved outputs hold an error are listed.
Ready to hand in: every public check passes, every question is answered, no cell failed. The grader still runs
more tests, on inputs the student has not seen.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

from labkit import labs, quiet, student
from labkit.errors import LabkitError

__all__ = ["Report", "add_cli", "assess"]


@dataclass
class Report:
    """What ``labkit check`` found in one notebook."""

    notebook: Path
    lab: labs.Lab
    exercises: list[student.Status]
    failed_cells: list[str]  # 'In [12] ("with exercise("2.1"):"): NameError: name 'sise' is not defined'

    @property
    def missing(self) -> list[str]:
        """What stands between the notebook and "ready to hand in", one phrase each."""
        out = [f"{s.exercise.name} {'fails its public checks' if s.state == student.FAILS else s.state}"
               for s in self.exercises if not s.done]
        if self.failed_cells:
            n = len(self.failed_cells)
            out.append(f"{n} cell{'s' if n > 1 else ''} failed when the notebook was last run")
        return out

    @property
    def ready(self) -> bool:
        return not self.missing

    def as_dict(self) -> dict:
        return {"notebook": str(self.notebook), "lab": self.lab.name,
                "exercises": [s.as_dict() for s in self.exercises], "failed_cells": self.failed_cells,
                "ready": self.ready, "missing": self.missing}

    def text(self) -> str:
        lines = [f"{self.notebook.name}: lab {self.lab.number}, {self.lab.title}"]
        for s in self.exercises:
            lines.append(f"  {s.exercise.name}  {s.state:<12}  {s.exercise.title}")
            lines += [f"        {p}" for p in s.problems]
        if self.failed_cells:
            lines.append("  cells that failed when the notebook was last run:")
            lines += [f"        {c}" for c in self.failed_cells]
        if self.ready:
            lines.append("ready to hand in (the grader runs more tests, on inputs you have not seen)")
        else:
            lines.append("not ready to hand in: " + "; ".join(self.missing))
        return "\n".join(lines)


def _lab_of(nb, path: Path, lab: str | int | None) -> labs.Lab:
    if lab is not None:
        return labs.get(lab)
    claimed, content = labs.lab_of_notebook(nb)
    name = claimed or content or path.stem
    if name in labs.LABS:
        return labs.LABS[name]
    raise LabkitError(f"{path.name}: cannot tell which lab it is (no labkit metadata or exercise of a lab, and not "
                      "named after a lab): pass --lab N")


def _answers(nb, path: Path, lab: labs.Lab) -> dict[str, str]:
    """Each written question's answer, as the grader reads it; a master notebook's own are its solutions."""
    from labkit import assign
    from labkit.grading.exercises import answers

    if not (nb.metadata.get("labkit") or {}).get("notebook"):  # not released: a master (labkit run's default)
        try:
            nb = assign.parse_master(path, lab).solution
        except LabkitError:
            pass
    return answers(nb, lab)


def _coding(nb, ex, folder: Path) -> student.Status:
    """Exercise ``ex`` on the notebook's own code: cut out, run alone (in the notebook's folder), checked."""
    from labkit.exercises.source import program

    code = program(nb, ex)
    if code.missing:
        return student.status(ex, {})
    namespace: dict = {"__name__": "__main__"}
    cwd = os.getcwd()
    try:
        os.chdir(folder)
        with student.time_limit(student.CHECK_SECONDS), contextlib.redirect_stdout(io.StringIO()):
            exec(compile(code.source, f"<{ex.name}: the notebook's code>", "exec"), namespace)  # noqa: S102
    except Exception as exc:  # noqa: BLE001 - the student's code: say what it raised, check nothing more
        broken = "; ".join(code.broken)
        return student.Status(ex, student.FAILS, [f"its code raised {type(exc).__name__}: {exc}"
                                                  + (f" ({broken})" if broken else "")])
    finally:
        os.chdir(cwd)
    with contextlib.redirect_stdout(io.StringIO()):
        return student.status(ex, namespace)


def _failed_cells(nb) -> list[str]:
    out = []
    for i, cell in enumerate(nb.cells):
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if cell.cell_type != "code" or not errors:
            continue
        first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
        where = f"In [{cell.execution_count}]" if cell.get("execution_count") else f"cell {i + 1}"
        first = first if len(first) <= 40 else first[:37] + "..."
        out += [f"{where} ({first}): {e.get('ename')}: {str(e.get('evalue', '')).splitlines()[0][:200]}"
                if str(e.get("evalue", "")).strip() else f"{where} ({first}): {e.get('ename')}" for e in errors]
    return out


def assess(path: str | os.PathLike, lab: str | int | None = None) -> Report:
    """Check one saved lab notebook (see the module's docstring); ``lab``: which lab, where the notebook's
    metadata or file name does not say."""
    import nbformat

    path = Path(path)
    try:
        nb = nbformat.read(path, as_version=4)
    except FileNotFoundError:
        raise LabkitError(f"no notebook {path}") from None
    except Exception as exc:  # noqa: BLE001 - not JSON, not a notebook
        raise LabkitError(f"{path} is not a readable notebook: {str(exc).splitlines()[0][:200]}") from None
    lab_ = _lab_of(nb, path, lab)
    answers = _answers(nb, path, lab_)
    quiet.ignore_harmless_warnings()  # as in the lab's own kernel (labs.setup)
    statuses = []
    for ex in lab_.exercises:
        if ex.written:
            state = student.ANSWERED if answers.get(ex.name, "").strip() else student.NOT_ANSWERED
            statuses.append(student.Status(ex, state))
        else:
            statuses.append(_coding(nb, ex, path.resolve().parent))
    return Report(path, lab_, statuses, _failed_cells(nb))


def _cli(args) -> int:
    if not args.json:
        reports = [assess(path, args.lab) for path in args.notebooks]
        print("\n\n".join(r.text() for r in reports))
        return 0 if all(r.ready for r in reports) else 1
    found = []  # one entry per notebook, in order; a notebook that cannot be checked says why
    for path in args.notebooks:
        try:
            found.append(assess(path, args.lab).as_dict())
        except LabkitError as exc:
            found.append({"notebook": str(path), "error": str(exc), "ready": False})
    print(json.dumps(found))
    return 0 if all(f["ready"] for f in found) else 1


def add_cli(sub) -> None:
    """Register ``labkit check`` on the ``labkit`` command line's subparsers."""
    p = sub.add_parser("check", help="before you hand in: public checks of a saved lab notebook's exercises, "
                                     "unanswered questions, failed cells",
                       description="Check saved lab notebooks without running the lab: each coding exercise's "
                                   "public checks on the notebook's own functions, each written question answered "
                                   "or not, the cells that failed when it was last run. Exit status 0 when every "
                                   "notebook is ready to hand in, 1 when one is not, 2 on a bad argument.")
    p.add_argument("notebooks", nargs="+", metavar="NOTEBOOK", help="saved lab notebooks (.ipynb)")
    p.add_argument("--lab", default=None, help="which lab (1, 02, attention_maps), where the notebook does not say")
    p.add_argument("--json", action="store_true", help="print the findings as JSON (what labkit run reads)")
    p.set_defaults(func=_cli)
