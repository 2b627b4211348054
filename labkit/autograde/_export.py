"""What the otter-grader and nbgrader exports share: a released lab as one sequence of cells, each with its
exercise and role, merged from the student and solution notebooks that ``parse_master`` builds (so the exports see
exactly what labkit's own release does); each solution cell as hunks (what is the same in both versions, what
differs); the parameters cell as the lab is graded; the code of the tests, which call ``labkit.autograde``."""

from __future__ import annotations

import copy
import dataclasses
import difflib
import re
from dataclasses import dataclass

from labkit.assign import Master, stable_ids
from labkit.errors import LabkitError
from labkit.exercises import Exercise


@dataclass
class Item:
    """One cell of the export. ``role``: ``shared`` (both versions), ``student`` (what only students get: a prompt,
    an answer placeholder), ``solution`` (a code cell students complete: ``student`` and ``solution`` both set),
    ``answer`` (the text of a written answer: the solution's)."""

    role: str
    exercise: Exercise | None
    student: dict | None
    solution: dict | None

    @property
    def cell(self) -> dict:
        return self.solution if self.solution is not None else self.student


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("labkit") or {}


def _same(a, b) -> bool:
    return a["cell_type"] == b["cell_type"] and a.get("source", "") == b.get("source", "")


def items(master: Master) -> list[Item]:
    """The lab's cells in order, from ``master.student`` and ``master.solution`` (copies, labkit metadata kept)."""
    stu, sol = master.student.cells, master.solution.cells
    by_name = {ex.name: ex for ex in master.lab.exercises}
    out: list[Item] = []
    i = j = 0
    while i < len(stu) or j < len(sol):
        s = copy.deepcopy(stu[i]) if i < len(stu) else None
        t = copy.deepcopy(sol[j]) if j < len(sol) else None
        ks, kt = _meta(s).get("kind") if s else None, _meta(t).get("kind") if t else None
        if ks == kt == "solution":
            out.append(Item("solution", by_name.get(_meta(t).get("exercise")), s, t))
            i, j = i + 1, j + 1
        elif ks == "answer":
            out.append(Item("student", by_name.get(_meta(s).get("exercise")), s, None))
            i += 1
        elif kt == "answer":
            out.append(Item("answer", by_name.get(_meta(t).get("exercise")), None, t))
            j += 1
        elif s is not None and t is not None and _same(s, t):
            out.append(Item("shared", by_name.get(_meta(t).get("exercise")), s, t))
            i, j = i + 1, j + 1
        elif s is not None:
            out.append(Item("student", by_name.get(_meta(s).get("exercise")), s, None))
            i += 1
        else:  # the solution notebook has a cell students do not get, outside an answer: a labkit bug
            raise LabkitError(f"{master.path.name}: cannot line up the student and solution notebooks at cell {j + 1}")
    return out


def questions(cells: list[Item]) -> list[tuple[Exercise | None, list[Item]]]:
    """``cells`` grouped into runs: a question's cells (its exercise), or cells outside any question (None)."""
    groups: list[tuple[Exercise | None, list[Item]]] = []
    for item in cells:
        if groups and groups[-1][0] is item.exercise:
            groups[-1][1].append(item)
        else:
            groups.append((item.exercise, [item]))
    return groups


def hunks(student: str, solution: str) -> list[tuple[bool, list[str], list[str]]]:
    """A solution cell as hunks ``(same, student lines, solution lines)``: the lines both versions share (``same``),
    else what students get and what the solution has in its place (either may be empty)."""
    a, b = student.splitlines(), solution.splitlines()
    return [(tag == "equal", a[i1:i2], b[j1:j2])
            for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()]


def graded_parameters(master: Master, cell) -> None:
    """Write the values the lab is graded with (``Lab.graded_with``: quick profile, offline model) into its
    ``parameters`` cell: otter and nbgrader run a notebook as it was handed in."""
    if "parameters" not in cell.get("metadata", {}).get("tags", []):
        return
    lab = master.lab
    cell["source"] = "\n".join(dataclasses.replace(p, default=lab.graded_with.get(p.name, p.default)).line()
                               for p in lab.params)


def notebook(master: Master, cells: list) -> dict:
    """A notebook of ``cells`` with the master's metadata (its kernel) and labkit's lab; each cell with a unique,
    stable id: its own where it has one, else ``labkit-K`` (so the same lab gives the same bytes)."""
    import nbformat

    meta = {k: v for k, v in master.solution.metadata.items() if k != "labkit"}
    meta["labkit"] = {"lab": master.lab.name, "exercises": [e.name for e in master.lab.exercises]}
    stable_ids(cells, "labkit")  # before new_notebook, whose validation gives a cell without one a random id
    return nbformat.v4.new_notebook(cells=cells, metadata=meta)


def new_cell(kind: str, source: str) -> dict:
    """A new ``code``, ``markdown`` or ``raw`` cell without an id: :func:`notebook` gives it a stable one (nbformat
    would give it a random one)."""
    import nbformat

    cell = getattr(nbformat.v4, f"new_{kind}_cell")(source)
    cell.pop("id", None)
    return cell


def writes(nb) -> str:
    """The notebook as text, checked against nbformat's schema first (a bad one is labkit's bug: say so)."""
    import nbformat

    try:
        nbformat.validate(nb)
    except Exception as exc:  # noqa: BLE001 - nbformat's ValidationError, and what jsonschema raises with it
        raise LabkitError(f"the exported notebook would not be valid: {str(exc)[:200]}") from None
    return nbformat.writes(nb) + "\n"


def slug(ex: Exercise, what: str) -> str:
    """An id for one of exercise ``ex``'s cells (``ex4_1-tests``): letters, digits, ``_`` and ``-`` only."""
    return "ex" + re.sub(r"[^A-Za-z0-9]", "_", ex.name) + f"-{what}"


# -- the tests' code (run in the grading kernel: ``labkit.autograde``) -------------------------------------------

def public_call(ex: Exercise, namespace: str) -> str:
    return f"autograde.public({ex.name!r}, {namespace})"


def hidden_call(ex: Exercise, seed: int, at_least: int | None = None, of: int | None = None) -> str:
    more = "" if at_least is None else f", at_least={at_least}, of={of}"
    return f"autograde.hidden({ex.name!r}, seed={int(seed)}{more})"
