"""The student's code for one exercise, cut out of a notebook: what the grader's clean room and ``labkit check``
run instead of the whole notebook.

``program(nb, exercise)`` finds the last top-level definition of each function the exercise defines (by name,
wherever it is, so moved, duplicated or unmarked cells count as the kernel would see them) and, statement by
statement, the top-level statements those definitions need: the imports, functions, classes and assignments
that bind the names they use. Expressions, plots and ``with exercise(...)`` steps are left out, unless they bind
a needed name. A name used at a statement's run time comes from the last binding before it; a name used
inside a function body from the last binding in the notebook (what the function sees once every cell ran).
IPython magics are turned into Python first, as IPython does. Written here because no maintained library
slices a notebook by the names a function needs (nbconvert exports whole cells).
"""

from __future__ import annotations

import ast
import builtins
import symtable
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Program", "labkit_names", "program", "python_source"]

_BUILTINS = set(dir(builtins)) | {"__name__", "__file__", "__doc__", "__builtins__", "get_ipython", "display"}
_INLINE = {"listcomp", "setcomp", "dictcomp", "genexpr"}  # run where they stand, not when called


def python_source(source: str) -> str:
    """Cell source as plain Python (IPython magics and shell escapes turned into calls, as IPython does)."""
    if "%" not in source and "!" not in source:
        return source
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # no IPython: a magic then reads as a syntax error, named with its cell
        return source
    return TransformerManager().transform_cell(source)


@dataclass
class _Statement:
    cell: int  # the code cell's index in the notebook
    text: str  # its source lines (decorators included)
    binds: set[str]
    now: set[str]  # names read when it runs
    later: set[str]  # names read by the functions it defines, when they are called


@dataclass
class Program:
    """One exercise's code, cut out of a notebook: ``source`` runs it (nothing else of the notebook runs)."""

    source: str
    defines: list[str]  # the exercise's names that the source defines
    missing: list[str]  # the exercise's names that no cell defines at its top level
    unresolved: list[str] = field(default_factory=list)  # names it uses that no cell binds (nor Python)
    broken: list[str] = field(default_factory=list)  # "cell 12: SyntaxError line 3", for cells that do not parse
    cells: list[int] = field(default_factory=list)  # the code cells it takes statements from


def _cells(nb) -> list[tuple[int, str]]:
    cells = nb.get("cells", []) if isinstance(nb, Mapping) else nb.cells
    out = []
    for i, cell in enumerate(cells):
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            out.append((i, "".join(source) if isinstance(source, list) else str(source)))
    return out


def _binds(node: ast.stmt) -> set[str]:
    """Names a top-level statement binds in the notebook's global namespace ("*": a star import)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {a.asname or a.name.split(".")[0] for a in node.names}
    names: set[str] = set()
    targets: list[ast.AST] = []
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target]
    elif isinstance(node, (ast.For, ast.AsyncFor)):
        targets = [node.target]
    elif isinstance(node, (ast.With, ast.AsyncWith)):
        targets = [i.optional_vars for i in node.items if i.optional_vars is not None]
    for t in targets:
        names |= {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}
    for body in ("body", "orelse", "finalbody", "handlers"):  # compound statements bind what their bodies bind
        for child in getattr(node, body, []) if not isinstance(node, (ast.FunctionDef, ast.ClassDef)) else []:
            if isinstance(child, ast.ExceptHandler):
                names |= {child.name} if child.name else set()
                for grandchild in child.body:
                    names |= _binds(grandchild)
            elif isinstance(child, ast.stmt):
                names |= _binds(child)
    return names


def _uses(text: str, node: ast.stmt) -> tuple[set[str], set[str]]:
    """(names read when the statement runs, names read later by the functions it defines)."""
    now: set[str] = set()
    later: set[str] = set()

    def visit(table: symtable.SymbolTable, deferred: bool) -> None:
        for sym in table.get_symbols():
            if sym.is_referenced() and (table.get_type() == "module" or sym.is_global()):
                (later if deferred else now).add(sym.get_name())
        for child in table.get_children():
            visit(child, deferred or (child.get_type() == "function" and child.get_name() not in _INLINE))

    visit(symtable.symtable(text, "<cell>", "exec"), False)
    if isinstance(node, ast.AugAssign):  # x += 1 reads x first
        now |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
    return now - _BUILTINS, later - _BUILTINS


def _statements(nb) -> tuple[list[_Statement], list[str]]:
    statements, broken = [], []
    for index, raw in _cells(nb):
        code = python_source(raw)
        try:
            tree = ast.parse(code)
        except SyntaxError as exc:
            broken.append(f"cell {index + 1}: SyntaxError line {exc.lineno}: {exc.msg}")
            continue
        lines = code.splitlines()
        for node in tree.body:
            first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
            text = "\n".join(lines[first - 1:node.end_lineno])
            try:
                now, later = _uses(text, node)
            except SyntaxError:  # a fragment symtable refuses alone (e.g. 'return' at the top level)
                continue
            statements.append(_Statement(index, text, _binds(node), now, later))
    return statements, broken


def _binder(statements: list[_Statement], name: str, before: int | None) -> int | None:
    """The index of the last statement binding ``name`` (before position ``before``, when given)."""
    end = len(statements) if before is None else before
    for k in range(end - 1, -1, -1):
        if name in statements[k].binds or "*" in statements[k].binds:
            return k
    return None


def program(nb, exercise) -> Program:
    """The code exercise ``exercise`` (a ``labkit.exercises.Exercise``, or just the names it defines) needs from
    notebook ``nb`` (an nbformat notebook or its dict)."""
    defines = list(getattr(exercise, "defines", exercise))
    statements, broken = _statements(nb)
    chosen: set[int] = set()
    todo: list[int] = []
    missing = []
    for name in defines:
        k = _binder(statements, name, None)
        if k is None or "*" in statements[k].binds and name not in statements[k].binds:
            missing.append(name)
        elif k not in chosen:
            chosen.add(k)
            todo.append(k)
    unresolved: set[str] = set()
    while todo:
        k = todo.pop()
        st = statements[k]
        needs = [(n, k) for n in st.now] + [(n, None) for n in st.later]
        for name, before in needs:
            j = _binder(statements, name, before)
            if j is None and before is not None:  # read at run time but bound only later: the kernel's view
                j = _binder(statements, name, None)
            if j is None:
                unresolved.add(name)
            elif j not in chosen:
                chosen.add(j)
                todo.append(j)
    parts, cells = [], []
    for k in sorted(chosen):
        st = statements[k]
        if st.cell not in cells:
            cells.append(st.cell)
            parts.append(f"# cell {st.cell + 1}")
        parts.append(st.text)
    return Program("\n".join(parts) + "\n", [n for n in defines if n not in missing], missing,
                   sorted(unresolved), broken, cells)


def labkit_names(source: str) -> set[str]:
    """The ``labkit`` names a program reaches by import or attribute, fully qualified
    (``from labkit import attacks`` then ``attacks.fooling_images``: ``labkit.attacks.fooling_images``)."""
    try:
        tree = ast.parse(python_source(source))
    except SyntaxError:
        return set()
    alias: dict[str, str] = {}
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "labkit":
                    alias[a.asname or "labkit"] = a.name if a.asname else "labkit"
                    found.add(a.name)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "labkit":
            for a in node.names:
                alias[a.asname or a.name] = f"{node.module}.{a.name}"
                found.add(f"{node.module}.{a.name}")
    for node in ast.walk(tree):
        chain: list[str] = []
        while isinstance(node, ast.Attribute):
            chain.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id in alias:
            found.add(".".join([alias[node.id], *reversed(chain)]))
    return found

