"""One master notebook, read whole: its questions, checked against the lab registry, and both released
notebooks built in memory, with the leak guard run on the student one."""

from __future__ import annotations

import copy
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from labkit import labs
from labkit.assign import _parse as p
from labkit.errors import LabkitError
from labkit.labs import Lab

ANSWER_TEXT = "_Type your answer here, replacing this text._"


@dataclass
class Master:
    """A parsed and validated master notebook: what :func:`labkit.assign.release` writes, still in memory."""

    path: Path
    lab: Lab
    config: dict  # the '# ASSIGNMENT CONFIG' YAML (otter's keys; labkit reads none of them)
    questions: list[p.Question]
    student: dict  # nbformat.NotebookNode
    solution: dict


def registry_file(lab: Lab) -> str:
    """Where ``lab`` is declared, e.g. ``labkit/labs/universal_masked_image.py``."""
    for name, module in sorted(sys.modules.items()):
        if name.startswith("labkit.labs.") and getattr(module, "LAB", None) is lab:
            return f"labkit/labs/{name.rsplit('.', 1)[1]}.py"
    return "labkit/labs/"


def lab_of(path: str | os.PathLike) -> Lab:
    """The lab a master notebook is for: the one named like its file (``04_universal_masked_image.ipynb``)."""
    stem = Path(path).stem
    if stem not in labs.LABS:
        raise LabkitError(f"{Path(path).name}: no lab called {stem!r} in the registry: a master notebook is named "
                          f"after its lab ({', '.join(f'{name}.ipynb' for name in labs.LABS)})")
    return labs.LABS[stem]


def stable_ids(cells, prefix: str) -> None:
    """Give each cell without an id, or with one an earlier cell has, the id ``{prefix}-{k}`` (``k``: its 1-based
    position; another suffix where an earlier cell took that one): the same notebook, the same ids, never random."""
    seen: set[str] = set()
    for k, cell in enumerate(cells, 1):
        if not isinstance(cell.get("id"), str) or cell["id"] in seen:
            new, n = f"{prefix}-{k}", 1
            while new in seen:
                new, n = f"{prefix}-{k}-{n}", n + 1
            cell["id"] = new
        seen.add(cell["id"])


def _read(path: Path):
    """The notebook at ``path``; cells without an id (or with a repeated one) get a stable id, not a random one."""
    import nbformat

    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if (raw.get("nbformat"), raw.get("nbformat_minor", 0)) >= (4, 5):
            stable_ids(raw.get("cells", []), "cell")
        return nbformat.reads(json.dumps(raw), as_version=4)
    except FileNotFoundError:
        raise LabkitError(f"master notebook not found: {path}") from None
    except Exception as exc:
        raise LabkitError(f"{path.name} is not a readable notebook: {str(exc).splitlines()[0][:200]}") from None


def _tag(cell, name: str, kind: str) -> None:
    cell["metadata"]["labkit"] = {"exercise": name, "kind": kind}


def _clear(cell) -> None:
    if cell["cell_type"] == "code":
        cell["outputs"], cell["execution_count"] = [], None


def _lines(cell) -> set[str]:
    return {line.strip() for line in cell.get("source", "").splitlines()}


def parse_master(path: str | os.PathLike, lab: Lab | str | int | None = None) -> Master:
    """Read a master notebook, check it against ``lab``'s exercises (default: the lab named like the file) and
    build both notebooks in memory; any problem raises one :class:`LabkitError`."""
    import nbformat

    path = Path(path)
    if not isinstance(lab, Lab):
        lab = lab_of(path) if lab is None else labs.get(lab)
    registry = registry_file(lab)
    nb = _read(path)
    released = (nb.metadata.get("labkit") or {}).get("notebook")
    if released:
        raise LabkitError(f"{path.name} is a released {released} notebook (metadata labkit.notebook), not a master: "
                          "release the master notebook instead")
    err = p.Errors(path, nb.cells)
    with_ids = (nb.nbformat, nb.nbformat_minor) >= (4, 5)
    config: dict = {}
    questions: dict[str, p.Question] = {}
    student: list = []
    solution: list = []
    secrets: list[tuple[str, str]] = []  # (exercise, line): text that must never reach students
    visible: set[str] = set()  # stripped lines students may see in the master (question text, prompts, shared lines)
    stack: list[tuple[str, int]] = []  # open blocks: (block, cell number)
    q: p.Question | None = None
    has_prompt = answer_added = seen_solution = False

    def placeholder():
        c = nbformat.v4.new_markdown_cell(ANSWER_TEXT)
        if with_ids:
            base = re.sub(r"[^A-Za-z0-9_-]", "-", f"labkit-{q.name}-answer")
            c["id"] = base if all(x.get("id") != base for x in student) else f"{base}-{len(student)}"
        else:
            c.pop("id", None)
        _tag(c, q.name, "answer")
        return c

    for i, cell in enumerate(nb.cells):
        n = i + 1
        cell = copy.deepcopy(cell)
        cell["metadata"].pop("labkit", None)
        _clear(cell)
        if cell["cell_type"] == "code":
            cell["source"] = p.strip_test_markers(cell["source"])
        first = p.first_line(cell)
        if cell["cell_type"] == "raw" and p.CONFIG.match(first):
            config.update(p.yaml_mapping("\n".join(cell["source"].splitlines()[1:]), n, err,
                                         "the assignment configuration"))
            continue
        if p.IGNORE.match(first):
            continue
        edge_block = p.marker(cell, n, err, registry)
        if edge_block:
            edge, block = edge_block
            if edge == "begin":
                if block == "question":
                    if stack:
                        raise err(n, f"'# BEGIN QUESTION' inside question {q.name} (opened at cell {q.cell}): "
                                     "is its '# END QUESTION' missing?" if q else "'# BEGIN QUESTION' inside a block")
                    q = p.question(cell, n, err)
                    if q.name in questions:
                        raise err(n, f"duplicate question name {q.name} (first at cell {questions[q.name].cell})")
                    questions[q.name] = q
                    has_prompt = seen_solution = False
                elif not stack:
                    raise err(n, f"'# BEGIN {block.upper()}' outside a question: put it between '# BEGIN QUESTION' "
                                 "and '# END QUESTION'")
                elif len(stack) > 1:
                    inner, at = stack[-1]
                    raise err(n, f"'# BEGIN {block.upper()}' inside the {inner.upper()} block opened at cell {at}: "
                                 f"is its '# END {inner.upper()}' missing?")
                elif block == "prompt" and seen_solution:
                    raise err(n, f"question {q.name}: its PROMPT block must come before its SOLUTION block")
                has_prompt = has_prompt or block == "prompt"
                if block == "solution":
                    answer_added, seen_solution = False, True
                stack.append((block, n))
                continue
            if not stack or all(b != block for b, _ in stack):
                raise err(n, f"'# END {block.upper()}' without a '# BEGIN {block.upper()}' before it")
            if stack[-1][0] != block:
                inner, at = stack[-1]
                raise err(n, f"'# END {block.upper()}' while the {inner.upper()} block opened at cell {at} is still "
                             f"open: is its '# END {inner.upper()}' missing?")
            stack.pop()
            if block == "question":
                q = None
            continue

        block = stack[-1][0] if stack else None
        if cell["cell_type"] == "code" and block != "solution":
            for k, line in enumerate(cell["source"].splitlines(), 1):
                if p.SOL_WORDS.search(line) or p.LINE_SOL.match(line):
                    raise err(n, f"line {k}: solution marker {line.strip()!r} outside a SOLUTION block: it would "
                                 "reach students; wrap the cell in raw '# BEGIN SOLUTION' / '# END SOLUTION' cells")
        if block is None or block == "question":  # text both notebooks show
            visible |= _lines(cell)
            s = copy.deepcopy(cell)
            if q is not None:
                _tag(s, q.name, "prompt")
                _tag(cell, q.name, "prompt")
                if cell["cell_type"] == "markdown":
                    s["metadata"].update(editable=False, deletable=False)
            student.append(s)
            solution.append(cell)
        elif block == "prompt":  # what students start from, in place of the solution
            visible |= _lines(cell)
            _tag(cell, q.name, "answer" if cell["cell_type"] == "markdown" else "prompt")
            student.append(cell)
        elif cell["cell_type"] == "code":  # a solution code cell: students get it with stubs
            stu_src, sol_src, secret, shared = p.split_solution(cell["source"], q.name, n, err)
            visible.update(line.strip() for line in shared)
            tree = p.parse(sol_src, n, err, f"the solution of exercise {q.name}")
            q.defines = list(dict.fromkeys(q.defines + p.defined(tree)))
            q.code_cells += 1
            stu_tree = p.parse(stu_src, n, err, f"the student version of exercise {q.name} (use '# BEGIN SOLUTION' "
                                                "with a stub rather than NO PROMPT where a block would be left empty)")
            p.check_stubs_in_functions(stu_tree, q.name, n, err)
            secrets += [(q.name, line) for line in secret]
            s = copy.deepcopy(cell)
            s["source"] = stu_src
            _tag(s, q.name, "solution")
            cell["source"] = sol_src
            _tag(cell, q.name, "solution")
            student.append(s)
            solution.append(cell)
        else:  # a written answer: students get a placeholder, once per block, unless a PROMPT block gave one
            secrets += [(q.name, line) for line in cell.get("source", "").splitlines()]
            if not has_prompt and not answer_added:
                student.append(placeholder())
                answer_added = True
            _tag(cell, q.name, "answer")
            solution.append(cell)
    if stack:
        block, at = stack[-1]
        raise err(at, f"'# BEGIN {block.upper()}'{f' (question {q.name})' if q else ''} is never closed by "
                      f"'# END {block.upper()}'")

    _check_registry(path, lab, registry, list(questions.values()), err)
    names = list(questions)
    meta = {k: v for k, v in nb.metadata.items() if k not in ("otter", "labkit", "papermill")}
    outputs = []
    for kind, cells in (("student", student), ("solution", solution)):
        out = nbformat.v4.new_notebook(cells=cells, metadata={**copy.deepcopy(meta), "labkit": {
            "notebook": kind, "lab": lab.name, "exercises": names}})
        out.nbformat, out.nbformat_minor = nb.nbformat, nb.nbformat_minor
        if not with_ids:
            for c in out.cells:
                c.pop("id", None)
        outputs.append(out)
    master = Master(path, lab, config, list(questions.values()), *outputs)
    _leak_guard(master, secrets, visible)
    return master


def _check_registry(path: Path, lab: Lab, registry: str, questions: list[p.Question], err: p.Errors) -> None:
    """The master's questions are exactly the lab's declared exercises: names, points, written or not, and the
    functions each coding exercise defines."""
    declared = {ex.name: ex for ex in lab.exercises}
    if not questions and declared:
        raise LabkitError(f"{path.name} has no '# BEGIN QUESTION' cell: not a master notebook (lab {lab.number} "
                          f"declares exercises {', '.join(declared)} in {registry})")
    for q in questions:
        ex = declared.get(q.name)
        if ex is None:
            raise err(q.cell, f"question {q.name} is not an exercise of lab {lab.number}: {registry} declares "
                              f"{', '.join(declared) or 'none'}")
        if float(q.points) != float(ex.points):
            raise err(q.cell, f"question {q.name} has points: {q.points:g}, but {registry} declares {ex.points:g}")
        if q.manual != ex.written:
            raise err(q.cell, f"question {q.name} is {'a written' if ex.written else 'a coding'} exercise in "
                              f"{registry}: " + ("add 'manual: true'" if ex.written else "remove 'manual: true'"))
        if not ex.written and not q.code_cells:
            raise err(q.cell, f"exercise {q.name} is a coding exercise but its SOLUTION block has no code cell")
        missing = [name for name in ex.defines if name not in q.defines]
        if missing:
            raise err(q.cell, f"the solution of exercise {q.name} does not define {', '.join(missing)}, which "
                              f"{registry} declares (Exercise.defines): the checks call it by that name")
    done = {q.name for q in questions}
    for name, ex in declared.items():
        if name not in done:
            raise LabkitError(f"{path.name}: exercise {name} ({ex.title!r}, {ex.points:g} points) is declared in "
                              f"{registry} but has no '# BEGIN QUESTION' block (name: \"{name}\") in the notebook")


def _leak_guard(master: Master, secrets: list[tuple[str, str]], visible: set[str]) -> None:
    """Refuse to release if any solution line is, verbatim, in what students get."""
    shown = set().union(*(_lines(c) for c in master.student.cells))
    for name, line in secrets:
        s = line.strip()
        if len(s) >= 10 and s in shown and s not in visible:
            raise LabkitError(f"{master.path.name}: exercise {name}: solution text would reach students "
                              f"({s[:60]!r}); nothing was written")
