"""Reading one cell of a master notebook: block markers, question YAML, in-cell solution markers, stubs.

Every problem is one :class:`LabkitError` built by :class:`Errors`: the notebook, the 1-based cell number, the
cell's first line, then the problem. Errors never quote a solution line.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from labkit.errors import LabkitError
from labkit.exercises.source import python_source

QUESTION_KEYS = {"name", "points", "manual", "check_cell", "export", "all_or_nothing"}  # otter's keys
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

BLOCK = re.compile(r"^#\s+(begin|end)\s+(question|prompt|solution|tests)\s*$", re.I)
_BLOCKISH = re.compile(r"^#+\s*(begin|end)\b|\b(begin|end)\s*(questions?|prompts?|solutions?|tests?)\b", re.I)
CONFIG = re.compile(r"^#\s+assignment\s+config\s*$", re.I)
IGNORE = re.compile(r"^(##\s*ignore\s*##|#\s*ignore)\b", re.I)  # otter: a cell left out of every output
_BEGIN_SOL = re.compile(r"^(\s*)#+\s*BEGIN\s+SOLUTION(\s+NO\s+PROMPT)?\s*$", re.I)
_END_SOL = re.compile(r"^\s*#+\s*END\s+SOLUTION\s*$", re.I)
SOL_WORDS = re.compile(r"(BEGIN|END)\s*SOLUTION", re.I)
_CAPS_MARKER = re.compile(r"^\s*#+\s*(BEGIN|END)\s+[A-Z]")  # '# END SOLUTON', '# BEGIN HIDDEN TESTS'...
LINE_SOL = re.compile(r"^(.*?)\s*#\s?SOLUTION(\s+NO\s+PROMPT)?\s*$")
_ASSIGNMENT = re.compile(r"^(\s*[A-Za-z_][\w.]*(?:\[[^\]]*\])*(?:\s*,\s*[A-Za-z_][\w.]*(?:\[[^\]]*\])*)*\s*"
                         r"(?:=|\+=|-=|\*=|/=|//=|%=|\*\*=|@=|&=|\|=|\^=))(?!=)")
_BEGIN_PROMPT = re.compile(r"#\s*BEGIN\s+PROMPT\s*$", re.I)
_END_PROMPT = re.compile(r"#\s*END\s+PROMPT\s*$", re.I)
_SEED = re.compile(r"^(.*?)\s*#\s*SEED\s*$")
_TEST_MARKER = re.compile(r"^\s*#\s*NBVAL_[A-Z_]+\s*$")  # nbval's cell markers: the goldens', not the students'


def strip_test_markers(source: str) -> str:
    """A code cell's source without nbval's marker lines (``# NBVAL_CHECK_OUTPUT``, ``# NBVAL_SKIP``, ...)."""
    if "NBVAL_" not in source:
        return source
    return "\n".join(line for line in source.splitlines() if not _TEST_MARKER.match(line))


def stub(name: str) -> str:
    """The line that replaces a solution region in the student notebook."""
    return f'raise NotImplementedError("exercise {name} is not done yet")'


def stub_lines(name: str) -> list[str]:
    """The lines that replace a solution region in the student notebook: a comment, then :func:`stub`."""
    return [f"# exercise {name}: your code here", stub(name)]


@dataclass
class Question:
    """One ``# BEGIN QUESTION`` block of a master (``manual``: a written answer, graded by hand)."""

    name: str
    points: float
    manual: bool
    cell: int  # 1-based number of its '# BEGIN QUESTION' cell in the master
    defines: list[str] = field(default_factory=list)  # top-level names its solution code cells define
    code_cells: int = 0  # its solution code cells


class Errors:
    """Builds one readable error: the notebook, the 1-based cell number, the cell's first line, the problem."""

    def __init__(self, path: Path, cells: list):
        self.path, self.cells = path, cells

    def __call__(self, n: int, problem: str) -> LabkitError:
        first = self.cells[n - 1].get("source", "").strip().splitlines() if 0 < n <= len(self.cells) else []
        where = f" ({self.cells[n - 1]['cell_type']} cell starting {first[0][:50]!r})" if first else ""
        return LabkitError(f"{self.path.name}, cell {n}{where}: {problem}")


def first_line(cell) -> str:
    lines = cell.get("source", "").strip().splitlines()
    return lines[0].strip() if lines else ""


def marker(cell, n: int, err: Errors, registry: str) -> tuple[str, str] | None:
    """('begin'|'end', block) for a block boundary cell, None for any other cell; malformed ones raise."""
    first = first_line(cell)
    m = BLOCK.match(first)
    if m and m.group(2).lower() == "tests":
        raise err(n, f"otter's TESTS blocks are not part of a labkit master: exercise checks are declared in "
                     f"{registry} (labkit.exercises), not in the notebook; delete the block")
    if cell["cell_type"] == "raw":
        if m:
            return m.group(1).lower(), m.group(2).lower()
        if _BLOCKISH.search(first) and not CONFIG.match(first):
            raise err(n, f"malformed block marker {first!r}: expected '# BEGIN QUESTION', '# END QUESTION', "
                         "'# BEGIN PROMPT', '# END PROMPT', '# BEGIN SOLUTION' or '# END SOLUTION' alone on the "
                         "first line of a raw cell")
        return None
    if cell["cell_type"] == "markdown" and first.startswith("```otter"):
        raise err(n, "fenced ```otter cells are not supported: put the block marker and its YAML in a raw cell")
    rest = cell.get("source", "").strip().splitlines()[1:]
    if m and (m.group(2).lower() != "solution" or not any(line.strip() for line in rest)):
        raise err(n, f"{first!r} is in a {cell['cell_type']} cell: block markers must be raw cells "
                     "(in Jupyter: select the cell, press R)")
    return None


def yaml_mapping(text: str, n: int, err: Errors, what: str) -> dict:
    """``text`` as a YAML mapping (``{}`` when empty)."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise err(n, f"{what} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise err(n, f"{what} must be YAML 'key: value' lines, got {type(data).__name__}")
    return data


def question(cell, n: int, err: Errors) -> Question:
    """The question a ``# BEGIN QUESTION`` cell opens, from its YAML."""
    conf = yaml_mapping("\n".join(cell["source"].splitlines()[1:]), n, err, "the question's configuration")
    unknown = sorted(set(conf) - QUESTION_KEYS)
    if unknown:
        raise err(n, f"unknown question key(s) {', '.join(unknown)}; known: {', '.join(sorted(QUESTION_KEYS))}")
    name = conf.get("name")
    if name is None:
        raise err(n, "the question has no name: add a line like  name: \"2.2\"")
    if isinstance(name, float):
        raise err(n, f"the question name {name!r} is a number to YAML (2.10 reads as 2.1): quote it, name: \"...\"")
    if isinstance(name, bool) or not isinstance(name, (str, int)) or not _NAME.match(str(name)):
        raise err(n, f"bad question name {name!r}: letters, digits, '.', '_' or '-' (at most 64)")
    points = conf.get("points")
    if points is None:
        raise err(n, f"question {name} has no points: add a line like  points: 2")
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not points >= 0:
        raise err(n, f"question {name}: points must be a number >= 0, got {points!r}")
    manual = conf.get("manual", False)
    if not isinstance(manual, bool):
        raise err(n, f"question {name}: manual must be true or false, got {manual!r}")
    return Question(str(name), points, manual, n)


def parse(source: str, n: int, err: Errors, what: str) -> ast.Module:
    """The syntax tree of a code cell's source; a syntax error names the cell and line."""
    try:
        return ast.parse(python_source(source))
    except SyntaxError as exc:
        raise err(n, f"{what} does not parse: line {exc.lineno}: {exc.msg}") from None


def defined(tree: ast.Module) -> list[str]:
    """The names a cell defines at its top level (functions, classes, assigned names)."""
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names += [t.id for t in ast.walk(target) if isinstance(t, ast.Name)]
    return list(dict.fromkeys(names))


def _is_stub(node: ast.AST, name: str) -> bool:
    exc = node.exc if isinstance(node, ast.Raise) else None
    return (isinstance(exc, ast.Call) and isinstance(exc.func, ast.Name) and exc.func.id == "NotImplementedError"
            and [getattr(a, "value", None) for a in exc.args] == [f"exercise {name} is not done yet"])


def check_stubs_in_functions(tree: ast.Module, name: str, n: int, err: Errors) -> None:
    """Refuse a stub that would run when the cell runs (outside any function): papermill would stop there."""
    in_functions = {id(node) for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
                    for node in ast.walk(fn)}
    if any(_is_stub(node, name) and id(node) not in in_functions for node in ast.walk(tree)):
        raise err(n, f"exercise {name}: the student's cell would raise NotImplementedError as soon as it runs (a "
                     "whole-cell solution, or a solution region outside any function), so the student notebook would "
                     "stop there: mark the lines students write with '# BEGIN SOLUTION' / '# END SOLUTION' inside "
                     "the function's body")


def split_solution(source: str, name: str, n: int, err: Errors) -> tuple[str, str, list[str], list[str]]:
    """(student source, solution source, secret lines, shared lines) of one solution code cell: the shared lines
    (outside every marker) are shown to students on purpose."""
    lines = source.splitlines()
    student: list[str] = []
    solution: list[str] = []
    secret: list[str] = []
    shared: list[str] = []
    region: tuple[int, bool] | None = None  # (line number, no prompt)
    prompt: int | None = None
    marked = False
    for k, line in enumerate(lines, 1):
        if m := _BEGIN_SOL.match(line):
            if region:
                raise err(n, f"line {k}: '# BEGIN SOLUTION' inside the solution region opened on line {region[0]}")
            if prompt:
                raise err(n, f"line {k}: '# BEGIN SOLUTION' inside the prompt opened on line {prompt}")
            region, marked = (k, bool(m.group(2))), True
            if not region[1]:
                student += [m.group(1) + line for line in stub_lines(name)]
            continue
        if _END_SOL.match(line):
            if not region:
                raise err(n, f"line {k}: '# END SOLUTION' without a '# BEGIN SOLUTION' before it")
            region = None
            continue
        if SOL_WORDS.search(line) or (_CAPS_MARKER.match(line) and not _END_PROMPT.search(line)
                                      and not _BEGIN_PROMPT.search(line)):
            raise err(n, f"line {k}: malformed solution marker {line.strip()!r}: '# BEGIN SOLUTION' and "
                         "'# END SOLUTION' stand alone on their lines")
        if region:
            solution.append(line)
            secret.append(line)
            continue
        if _BEGIN_PROMPT.search(line):
            if prompt:
                raise err(n, f"line {k}: '# BEGIN PROMPT' inside the prompt opened on line {prompt}")
            prompt, marked = k, True
            continue
        if _END_PROMPT.search(line):
            if not prompt:
                raise err(n, f"line {k}: '# END PROMPT' without a '# BEGIN PROMPT' before it")
            prompt = None
            continue
        if prompt:
            student.append(line)  # shown to students only
            continue
        if m := LINE_SOL.match(line):
            marked = True
            solution.append(m.group(1))
            secret.append(m.group(1))
            if not m.group(2):  # '# SOLUTION NO PROMPT': the line just goes
                a = _ASSIGNMENT.match(m.group(1))
                indent = re.match(r"\s*", line).group(0)
                student.append(f"{a.group(1).rstrip()} ..." if a else f"{indent}...")
            continue
        if m := _SEED.match(line):
            solution.append(m.group(1))  # otter: seed lines are the instructor's, not the student's
            continue
        student.append(line)
        solution.append(line)
        shared.append(line)
    if region:
        raise err(n, f"line {region[0]}: '# BEGIN SOLUTION' is never closed by '# END SOLUTION' in this cell")
    if prompt:
        raise err(n, f"line {prompt}: '# BEGIN PROMPT' is never closed by '# END PROMPT' in this cell")
    if not marked:  # a whole-cell solution: the cell becomes the stub (otter would keep it, solution and all)
        return "\n".join(stub_lines(name)), source, list(lines), []
    return "\n".join(student), "\n".join(solution), secret, shared
