"""A folder of submissions: one ``.ipynb`` per student, or one folder per student; ids safe as file names."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from labkit.errors import LabkitError


@dataclass
class Submission:
    student: str  # sanitised id: safe as a file name
    path: Path  # the .ipynb, or the student's folder
    notebook: Path | None  # the notebook to run (None: the folder has none)


def sanitize_id(name: str) -> str:
    """A student id safe as a file name: letters, digits, '.', '_', '-' only; no leading dots."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", name.replace("/", "_").replace("\\", "_"))
    base = base.lstrip("._-")[:64]
    return base or "student"


def find_submissions(root: str | os.PathLike) -> list[Submission]:
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
