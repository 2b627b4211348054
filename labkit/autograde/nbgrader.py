"""``labkit assign --format nbgrader``: each lab as the source notebook of an nbgrader 0.9 assignment, with the
``nbgrader_config.py`` lines it needs.

Per coding exercise (its name and points from the lab's declaration): its solution cell (``### BEGIN SOLUTION``
regions), then one autograded test cell worth the exercise's points: labkit's public checks
(``labkit.autograde.public``; a failing one raises, and nbgrader gives a cell that raises 0), and inside
``### BEGIN HIDDEN TESTS`` the clean room on hidden cases (``labkit.autograde.hidden``), whose points are the
cell's last value (nbgrader's partial credit). Written questions are manually graded answer cells. The question's
text is read-only.

labkit's stub follows each solution region, ``raise NotImplementedError("exercise 2.2 is not done yet")``, where
the solution has returned already; nbgrader writes its own stub in place of the region, so the course sets it to
a comment (``ClearSolutions.code_stub``, in ``nbgrader_config.py``). A region must therefore end its function
(a ``return`` is added to one that ends without); nbgrader has no lines that only students get, so a master's
prompts and ``# SOLUTION`` lines are refused.
"""

from __future__ import annotations

import ast
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path

from labkit import assign
from labkit.assign import ANSWER_TEXT, Master, parse_master, stub, stub_lines
from labkit.autograde import _export as x
from labkit.errors import LabkitError
from labkit.exercises import Exercise

__all__ = ["CONFIG", "CELL_TIMEOUT", "export", "nbgrader_source"]

CELL_TIMEOUT = 600  # seconds per cell when nbgrader runs a lab (as labkit grade's --cell-timeout)
CONFIG = f'''# What labkit's labs need in an nbgrader course (written by labkit assign --format nbgrader): merge
# these lines into the course's nbgrader_config.py.
c = get_config()  # noqa: F821
# labkit's stub, raise NotImplementedError("exercise 2.2 is not done yet"), follows each solution region; nbgrader's
# own stub stands in the region's place: a comment, so that labkit's is the one that runs
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE"}}
c.ClearSolutions.text_stub = {ANSWER_TEXT!r}
c.Execute.timeout = {CELL_TIMEOUT}  # seconds per cell: a lab trains and attacks models
'''


def _nbgrader(ex: Exercise, what: str, *, grade: bool, solution: bool, locked: bool) -> dict:
    meta = {"grade": grade, "grade_id": x.slug(ex, what), "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if grade:
        meta["points"] = ex.points
    return meta


def _stub_ends_function(tree: ast.Module, line: int) -> bool:
    """Whether the statement on ``line`` of the student's cell is the last statement of a function's body."""
    return any(isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and fn.body[-1].lineno == line
               for fn in ast.walk(tree))


def solution_source(item: x.Item) -> str:
    """A solution cell in nbgrader's markers: each region, then labkit's stub (see the module's docstring)."""
    ex = item.exercise
    student = item.student["source"]
    tree = ast.parse(student)
    out: list[str] = []
    line = 1  # the student's line number at the start of each hunk
    for same, mine, theirs in x.hunks(student, item.solution["source"]):
        if same:
            out += mine
        else:
            indent = next((s[:len(s) - len(s.lstrip())] for s in mine + theirs if s.strip()), "")
            stubbed = [s.strip() for s in mine] == stub_lines(ex.name)
            if mine and not stubbed:
                raise LabkitError(f"exercise {ex.name}: nbgrader has no lines that only students get (a prompt, a "
                                  "'# SOLUTION' line): use a '# BEGIN SOLUTION' region")
            if stubbed and not _stub_ends_function(tree, line + 1):
                raise LabkitError(f"exercise {ex.name}: a solution region that does not end its function cannot "
                                  "carry labkit's stub in nbgrader: make the region the end of the function's body")
            body = ast.parse(textwrap.dedent("\n".join(theirs))).body if stubbed else []
            ends = body and isinstance(body[-1], (ast.Return, ast.Raise))
            out += [f"{indent}### BEGIN SOLUTION", *theirs, *([] if not stubbed or ends else [f"{indent}return"]),
                    f"{indent}### END SOLUTION", *([f"{indent}{stub(ex.name)}"] if stubbed else [])]
        line += len(mine)
    return "\n".join(out)


def test_source(ex: Exercise, seed: int) -> str:
    return "\n".join([f"# exercise {ex.name}: its public checks (as check({ex.name!r})); the grader runs hidden "
                      "tests as well", "from labkit import autograde", x.public_call(ex, "globals()"),
                      "### BEGIN HIDDEN TESTS", x.hidden_call(ex, seed), "### END HIDDEN TESTS"])


def nbgrader_source(master: Master, *, seed: int) -> dict:
    """The lab as an nbgrader source notebook (an nbformat notebook)."""
    cells = []
    for ex, group in x.questions(x.items(master)):
        answers, texts, solutions = [], 0, 0
        for item in group:
            cell = item.cell
            if ex is None:
                x.graded_parameters(master, cell)
            elif item.role == "student":
                if (cell.get("metadata", {}).get("labkit") or {}).get("kind") != "answer" or \
                        cell["cell_type"] != "markdown":
                    raise LabkitError(f"exercise {ex.name}: nbgrader has no cells that only students get (a PROMPT "
                                      "block's code): put the starting code in the SOLUTION block")
                if cell.get("source", "") != ANSWER_TEXT:
                    raise LabkitError(f"exercise {ex.name}: nbgrader has no cells that only students get (a PROMPT "
                                      "block's text): nbgrader gives students its own answer placeholder; put the "
                                      "instructions in the question's text")
                continue  # labkit's answer placeholder: nbgrader writes its own (ClearSolutions.text_stub)
            elif item.role == "answer":
                answers.append(cell)
                continue
            elif item.role == "solution":
                solutions += 1
                cell["source"] = solution_source(item)
                cell["metadata"]["nbgrader"] = _nbgrader(ex, f"solution{solutions}", grade=False, solution=True,
                                                         locked=False)
            elif cell["cell_type"] == "markdown" and not answers and not solutions:  # the question's text
                texts += 1
                cell["metadata"]["nbgrader"] = _nbgrader(ex, f"text{texts}", grade=False, solution=False,
                                                         locked=True)
            if answers:  # a written answer ends where the next cell starts: one answer cell, graded by hand
                cells.append(_answer(ex, answers))
                answers = []
            cells.append(cell)
        if answers:
            cells.append(_answer(ex, answers))
        if ex is not None and not ex.written:
            test = x.new_cell("code", test_source(ex, seed))
            test["metadata"]["nbgrader"] = _nbgrader(ex, "tests", grade=True, solution=False, locked=True)
            cells.append(test)
    return x.notebook(master, cells)


def _answer(ex: Exercise, cells: list) -> dict:
    cell = cells[0]
    cell["source"] = "\n\n".join(c["source"] for c in cells)
    cell["metadata"]["nbgrader"] = _nbgrader(ex, "answer", grade=True, solution=True, locked=False)
    return cell


def export(masters: Sequence[str | os.PathLike], out: str | os.PathLike, *, seed: int) -> list[Path]:
    """Write ``OUT/source/<lab>/<lab>.ipynb`` (an nbgrader assignment named after the lab) for each master notebook,
    and ``OUT/nbgrader_config.py``. Every master is checked first; nothing is written on error. Returns the
    export's files."""
    out = Path(out)
    files: dict[Path, str | bytes] = {}
    for m in [parse_master(path) for path in masters]:
        files[out / "source" / m.lab.name / f"{m.lab.name}.ipynb"] = x.writes(nbgrader_source(m, seed=seed))
    files[out / "nbgrader_config.py"] = CONFIG
    assign.write_files(files, out)
    return list(files)

