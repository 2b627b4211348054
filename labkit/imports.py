"""Which labkit modules a labkit module imports, read from its source (module-level and function-level imports,
relative ones resolved): for the grader's version of its checks (``labkit.grading.cluster.checks_version``) and
the layering test. Static, so nothing is imported to find out; written here because no standard tool gives the
imports of a package as data (``modulefinder`` runs none of this, but follows every third-party import)."""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["closure", "imports", "modules"]


def modules(root: str | os.PathLike | None = None) -> dict[str, Path]:
    """Every module of the labkit package under ``root`` (the folder holding ``labkit``; default: this one's):
    dotted name -> source file."""
    root = Path(root) if root is not None else Path(__file__).resolve().parent.parent
    out = {}
    for path in sorted((root / "labkit").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _package(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The labkit modules that module ``name`` (its source ``path``) imports anywhere: ``from a import b`` is
    module ``a.b`` where that is one, else ``a``; only names in ``known``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's own package up
                package = _package(name, path).split(".")
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names}
    return {m for m in found if m in known and m != name}


def closure(start: Iterable[str], root: str | os.PathLike | None = None) -> dict[str, Path]:
    """``start`` and every labkit module they import, directly or not, with the packages above each (importing
    ``labkit.labs._spec`` runs ``labkit/labs/__init__.py`` first): name -> source file."""
    known = modules(root)
    found: dict[str, Path] = {}
    todo = list(start)
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for cut in range(1, len(parts) + 1):
            module = ".".join(parts[:cut])
            if module in known and module not in found:
                found[module] = known[module]
                todo.extend(imports(module, known[module], known))
    return found
