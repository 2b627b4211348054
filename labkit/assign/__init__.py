"""``labkit assign``: release a lab from its master notebook, as a student notebook and a solution notebook.

A master is written in otter-grader's ``otter assign`` format: raw cells ``# ASSIGNMENT CONFIG``,
``# BEGIN QUESTION`` (YAML ``name:``, ``points:``, ``manual:``), ``# BEGIN PROMPT`` and ``# BEGIN SOLUTION``,
each closed by its ``# END ...``; inside solution code cells the ``# BEGIN SOLUTION`` / ``# END SOLUTION``
regions (``NO PROMPT``), ``# SOLUTION`` line endings, prompt lines (``# BEGIN PROMPT``) and ``# SEED`` lines;
``# IGNORE`` cells. Parsed here rather than by ``otter assign`` (7.0.0, measured): it crashes while writing its
autograder zip and leaves a half-written release, keeps an unmarked solution cell in the student notebook,
is not byte-idempotent and brings 26 packages. labkit differs from otter, on the safe side:

- no TESTS blocks: each exercise's checks are declared in the lab registry (``labkit.labs``, with
  ``labkit.exercises``), and the master's questions must be exactly the lab's exercises (names, points,
  ``manual: true`` for a written one, the functions each coding exercise ``defines``);
- a solution region becomes ``raise NotImplementedError("exercise 2.2 is not done yet")`` (otter: ``...``),
  and must sit in a function body, so the student notebook still runs top to bottom (papermill);
- any problem is one :class:`LabkitError` naming the notebook, the cell and its first line; nothing is written;
- every exercise cell carries ``metadata.labkit = {"exercise": NAME, "kind": KIND}`` (``prompt``: the
  question's text, ``solution``: code the student completes, ``answer``: a written answer), the notebook
  ``metadata.labkit = {"notebook": "student" | "solution", "lab": NAME, "exercises": [...]}``;
- a leak guard: a solution line found verbatim in the student notebook stops the release;
- nbval's marker lines (``# NBVAL_CHECK_OUTPUT``) are the golden tests', not the students': both releases go
  without them.

Output, for each master ``notebooks/<lab>.ipynb``: ``OUT/student/<lab>.ipynb`` and ``OUT/solution/<lab>.ipynb``,
outputs cleared, written atomically, left untouched when their bytes would not change.

Where each idea lives: ``_parse`` (one cell: markers, question YAML, solution splitting), ``_master`` (one
notebook: blocks, the registry check, the leak guard), and here the release, ``paste_solutions`` and the CLI. The
same labs for otter-grader and nbgrader (``--format``): ``labkit.autograde``, which the command line registers.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from labkit import labs
from labkit.assign._master import ANSWER_TEXT, Master, lab_of, parse_master, registry_file, stable_ids
from labkit.assign._parse import Question, stub, stub_lines
from labkit.errors import LabkitError

if TYPE_CHECKING:
    from nbformat import NotebookNode

__all__ = ["ANSWER_TEXT", "Master", "Question", "Release", "add_cli", "lab_of", "parse_master", "paste_solutions",
           "registry_file", "release", "stable_ids", "stub", "stub_lines", "write_files"]


@dataclass
class Release:
    """What :func:`release` wrote for one lab (``changed``: the files whose bytes changed; empty on a re-run)."""

    lab: str
    master: Path
    student: Path
    solution: Path
    questions: list[Question]
    changed: list[Path]


def release(masters: Sequence[str | os.PathLike], out: str | os.PathLike) -> list[Release]:
    """Write ``OUT/student/<lab>.ipynb`` and ``OUT/solution/<lab>.ipynb`` for each master notebook (named after
    its lab). Every master is parsed and checked against the registry first: on any error nothing is written.
    Same masters, same bytes; files whose bytes would not change are not touched."""
    import nbformat

    if isinstance(masters, (str, os.PathLike)):
        masters = [masters]
    out = Path(out)
    parsed: list[Master] = [parse_master(path) for path in masters]
    for m in parsed:
        twins = [str(x.path) for x in parsed if x.lab is m.lab]
        if len(twins) > 1:
            raise LabkitError(f"two masters for lab {m.lab.name}: {', '.join(twins)}")
    files: dict[Path, str] = {}
    plan: list[tuple[Master, Path, Path]] = []
    for m in parsed:
        paths = []
        for folder, nb in (("student", m.student), ("solution", m.solution)):
            try:
                nbformat.validate(nb)
            except Exception as exc:  # a labkit bug rather than the master's: say so plainly
                problem = str(exc)[:200]
                raise LabkitError(f"{m.path.name}: the {folder} notebook would not be valid: {problem}") from None
            paths.append(out / folder / f"{m.lab.name}.ipynb")
            files[paths[-1]] = nbformat.writes(nb) + "\n"
        plan.append((m, *paths))
    masters_resolved = {m.path.resolve() for m in parsed}
    if any(p.resolve() in masters_resolved for p in files):
        raise LabkitError(f"the release would overwrite a master notebook under {out}: choose another --out")
    changed = set(write_files(files, out))
    return [Release(m.lab.name, m.path, s, o, m.questions, [p for p in (s, o) if p in changed]) for m, s, o in plan]


def write_files(files: Mapping[Path, str | bytes], out: Path) -> list[Path]:
    """Write every file (text or bytes) to a staging folder under ``out``, then move each into place; files whose
    bytes would not change are left alone. Returns the files written."""
    data = {p: t.encode() if isinstance(t, str) else t for p, t in files.items()}
    todo = {p: t for p, t in data.items() if not (p.is_file() and p.read_bytes() == t)}
    if not todo:
        return []
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".labkit-assign-", dir=out))
    except OSError as exc:
        raise LabkitError(f"cannot write to {out}: {exc.strerror}") from None
    try:
        staged = {}
        for k, (path, text) in enumerate(todo.items()):
            tmp = staging / f"{k}{path.suffix}"
            tmp.write_bytes(text)
            staged[path] = tmp
        for path, tmp in staged.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, path)
    except OSError as exc:
        raise LabkitError(f"cannot write the release under {out}: {exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return list(todo)


def _notebook(nb: NotebookNode | str | os.PathLike) -> NotebookNode:
    if isinstance(nb, (str, os.PathLike)):
        import nbformat

        return nbformat.read(nb, as_version=4)
    return copy.deepcopy(nb)


def _solution_cells(nb) -> dict[str, list]:
    cells: dict[str, list] = {}
    for c in nb.cells:
        meta = c.get("metadata", {}).get("labkit") or {}
        if c.get("cell_type") == "code" and meta.get("kind") == "solution":
            cells.setdefault(meta.get("exercise"), []).append(c)
    return cells


def paste_solutions(student_nb: NotebookNode | str | os.PathLike,
                    solution_nb: NotebookNode | str | os.PathLike) -> NotebookNode:
    """A copy of the student notebook (a notebook or its path) whose ``kind: solution`` code cells take the
    solution notebook's source, matched by exercise name and order within the exercise (cell metadata)."""
    student, solution = _notebook(student_nb), _notebook(solution_nb)
    kinds = [(nb.metadata.get("labkit") or {}) for nb in (student, solution)]
    if [k.get("notebook") for k in kinds] != ["student", "solution"] or kinds[0].get("lab") != kinds[1].get("lab"):
        raise LabkitError("paste_solutions takes a released student notebook and the solution notebook of the same "
                          f"lab (metadata labkit: {kinds[0] or 'none'} and {kinds[1] or 'none'})")
    theirs = _solution_cells(solution)
    ours = _solution_cells(student)
    for name in sorted(set(theirs) | set(ours)):
        if len(ours.get(name, [])) != len(theirs.get(name, [])):
            raise LabkitError(f"exercise {name}: {len(ours.get(name, []))} solution cell(s) in the student notebook, "
                              f"{len(theirs.get(name, []))} in the solution notebook")
        for cell, reference in zip(ours.get(name, []), theirs.get(name, []), strict=True):
            cell["source"] = reference["source"]
    return student


# -- the command line -------------------------------------------------------------------------------------------

def _pts(points: float) -> str:
    return f"{points:g} pt{'' if points == 1 else 's'}"


def _line(r: Release) -> str:
    coding = [q for q in r.questions if not q.manual]
    written = [q for q in r.questions if q.manual]
    parts = [f"{len(group)} {what} ({', '.join(q.name for q in group)}; {_pts(sum(q.points for q in group))})"
             for what, group in (("coding", coding), ("written", written)) if group]
    n, total = len(r.questions), _pts(sum(q.points for q in r.questions))
    return f"{r.lab}: {n} exercise{'' if n == 1 else 's'}, {total}: " + ", ".join(parts)


def _cli(args) -> int:
    from labkit.runner.plan import find_notebooks

    chosen = list(dict.fromkeys(labs.get(name).name for name in args.labs)) or list(labs.LABS)
    found = find_notebooks(args.notebooks)
    missing = [name for name in chosen if name not in found]
    if missing:
        folder = Path(next(iter(found.values()))).parent
        raise LabkitError(f"no master notebook for {', '.join(missing)} in {folder} (expected {missing[0]}.ipynb)")
    masters = [found[name] for name in chosen]
    if args.format != "labkit":
        if args.seed is None:
            raise LabkitError(f"--format {args.format} needs --seed: the seed of the hidden cases written into its "
                              "tests (a secret one of your own, a new one per round)")
        for path in args.exporters[args.format](masters, Path(args.out) / args.format, seed=args.seed):
            print(f"  {path}")
        return 0
    if args.seed is not None:
        raise LabkitError("--seed is for --format otter or nbgrader (the hidden cases go into their tests); "
                          "labkit grade takes its own --seed")
    for r in release(masters, args.out):
        print(_line(r))
        for path in (r.student, r.solution):
            print(f"  {path}{'' if path in r.changed else '  (unchanged)'}")
    return 0


def add_cli(sub, exporters: Mapping[str, Callable] | None = None) -> None:
    """Register ``labkit assign`` on the ``labkit`` command line's subparsers; ``exporters``: other formats,
    ``name -> export(masters, out, seed=)`` (``labkit.autograde``: otter and nbgrader)."""
    exporters = dict(exporters or {})
    p = sub.add_parser("assign", help="release labs: student and solution notebooks from the master notebooks",
                       description="Write OUT/student/<lab>.ipynb and OUT/solution/<lab>.ipynb from each lab's master "
                                   "notebook (otter-grader's assign format), checked against the lab registry; with "
                                   "--format otter or nbgrader, OUT/otter/ or OUT/nbgrader/ instead. Nothing is "
                                   "written if any master has a problem.")
    p.add_argument("labs", nargs="*", metavar="LAB", help="labs to release: 1, 01, attention_maps or "
                                                           "01_attention_maps (default: all)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder: student/ and solution/ (--format otter: otter/; nbgrader: nbgrader/)")
    p.add_argument("--notebooks", default=None, metavar="DIR", help="folder of the master notebooks NN_name.ipynb "
                                                                   "(default: the repository's notebooks/)")
    p.add_argument("--format", default="labkit", choices=["labkit", *exporters],
                   help="labkit (default): student and solution notebooks for labkit grade; otter: masters for "
                        "otter-grader's otter assign (OUT/otter/); nbgrader: an nbgrader course's source notebooks "
                        "(OUT/nbgrader/)")
    p.add_argument("--seed", type=int, default=None,
                   help="otter and nbgrader (required there): the seed of the hidden cases written into their tests "
                        "(use a secret one)")
    p.set_defaults(func=_cli, exporters=exporters)
