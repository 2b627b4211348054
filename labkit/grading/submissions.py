"""A folder of submissions: one ``.ipynb`` per student, or one folder per student; ids safe as file names.

Each submission keeps the id of its own name where that name is safe (letters, digits, ``.``, ``_``, ``-``);
another is made safe, and where two ids meet, the later name (in sorted order) gets a suffix: a name never
displaces another's id. A top-level link is not followed: it is ``invalid``.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from labkit.errors import LabkitError

_SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}")


@dataclass
class Submission:
    student: str  # sanitised id: safe as a file name
    path: Path  # the .ipynb, or the student's folder
    notebook: Path | None  # the notebook to run (None: the folder has none)
    problem: str = ""  # why it cannot be graded at all (a link, no notebook): status "invalid"


def sanitize_id(name: str) -> str:
    """A student id safe as a file name: letters, digits, '.', '_', '-' only; no leading dots."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", name.replace("/", "_").replace("\\", "_"))
    base = base.lstrip("._-")[:64]
    return base or "student"


def _entries(root: Path) -> list[tuple[str, Path, Path | None, str]]:
    """(name stem, path, notebook, problem) of each submission in ``root``, in sorted order."""
    out = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") and not entry.name.endswith(".ipynb"):
            continue  # .ipynb_checkpoints and the like
        try:
            mode = os.lstat(entry).st_mode
        except OSError:
            continue
        if stat.S_ISLNK(mode):
            if entry.suffix == ".ipynb" or entry.is_dir():
                out.append((entry.stem if entry.suffix == ".ipynb" else entry.name, entry, None,
                            "a link, not a notebook or folder of the student's own: not followed"))
        elif stat.S_ISREG(mode) and entry.suffix == ".ipynb":
            out.append((entry.stem, entry, entry, ""))
        elif stat.S_ISDIR(mode):
            notebooks = sorted(p for p in entry.glob("*.ipynb") if stat.S_ISREG(os.lstat(p).st_mode))
            out.append((entry.name, entry, notebooks[0] if notebooks else None,
                        "" if notebooks else "no .ipynb file in the submission folder"))
    return out


def find_submissions(root: str | os.PathLike) -> list[Submission]:
    """Submissions: ``*.ipynb`` files in ``root`` (id: the file's stem) or per-student folders."""
    root = Path(root)
    if not root.is_dir():
        raise LabkitError(f"submissions folder not found: {root}")
    entries = _entries(root)
    ids: dict[int, str] = {}
    for i, (stem, *_) in enumerate(entries):  # names safe as they are keep them, first come first served
        if _SAFE.fullmatch(stem) and stem not in ids.values():
            ids[i] = stem
    for i, (stem, *_) in enumerate(entries):  # the others: made safe, with a suffix where that is taken
        if i in ids:
            continue
        base = sanitize_id(stem)
        sid, n = base, 1
        while sid in ids.values():
            n += 1
            sid = f"{base}-{n}"
        ids[i] = sid
    subs = [Submission(ids[i], path, notebook, problem) for i, (_, path, notebook, problem) in enumerate(entries)]
    if not subs:
        raise LabkitError(f"no submissions (.ipynb files or per-student folders) in {root}")
    return sorted(subs, key=lambda s: s.student)
