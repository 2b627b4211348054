"""labkit's imports only go down: every module's imports (module-level and inside functions), read from the source,
make a graph without a cycle, and no module imports another package's private (``_x``) module."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "labkit"

# The one known upward edge: the grader's probe in labkit/exercises/__init__.py looks up its exercise in the lab
# registry. It goes away with issue 22 (the grader's probe is replaced); nothing else may point up.
KNOWN_CYCLE_EDGES = {("labkit.exercises", "labkit.labs")}
# Private modules the grader still reads by name, in the files of issues 22-24 (labkit/grading/): their public
# names are exported now (labkit.labs.Context, labkit.exercises.Checker/Exercise, labkit.assign.ANSWER_TEXT).
KNOWN_PRIVATE_IMPORTS = {("labkit.grading.checks", "labkit.labs._checks"),
                         ("labkit.grading.cluster", "labkit.labs._checks"),
                         ("labkit.grading.cluster", "labkit.exercises._common"),
                         ("labkit.grading.cluster", "labkit.exercises._spec"),
                         ("labkit.grading.exercises", "labkit.assign._master")}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _package(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The labkit modules ``name`` imports anywhere in its source (``from a import b``: module ``a.b`` where it
    is one, else ``a``)."""
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


def _graph() -> dict[str, set[str]]:
    """Module -> the modules it imports, and the packages above each one outside its own package (importing
    ``labkit.labs._spec`` runs ``labkit/labs/__init__.py`` first)."""
    known = _modules()
    graph = {}
    for name, path in known.items():
        edges = set()
        for target in _imports(name, path, known):
            edges.add(target)
            parts = target.split(".")
            for i in range(2, len(parts)):
                parent = ".".join(parts[:i])
                if not (name == parent or name.startswith(parent + ".")):
                    edges.add(parent)
        graph[name] = edges
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _without_known_edges(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    return {m: {t for t in targets if (m, t) not in KNOWN_CYCLE_EDGES} for m, targets in graph.items()}


def test_the_import_graph_has_no_cycle():
    graph = _without_known_edges(_graph())
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_check_finds_a_cycle():
    """The test above can fail: an import loop like the one issue 25 removed (the step cap read from the labs)."""
    graph = _without_known_edges(_graph())
    graph["labkit.attacks.universal"] = graph["labkit.attacks.universal"] | {"labkit.labs"}
    assert "labkit.attacks.universal" in _cycle(graph)


def test_the_lab_registry_is_imported_only_from_above():
    """The labs import labkit's methods; only the runner, ``labkit assign``, the grader and the notebooks' ``student``
    import the labs (README, "Layout")."""
    def labs(module):
        return module == "labkit.labs" or module.startswith("labkit.labs.")

    graph = _without_known_edges(_graph())
    importers = {m for m, targets in graph.items() if not labs(m) and any(labs(t) for t in targets)}
    above = ("labkit.runner", "labkit.assign", "labkit.grading", "labkit.student")
    assert sorted(m for m in importers if not any(m == a or m.startswith(a + ".") for a in above)) == []
    assert {a for a in above if any(m == a or m.startswith(a + ".") for m in importers)} == set(above)


def test_nothing_imports_another_packages_private_module():
    known = _modules()
    bad = []
    for name, path in known.items():
        for target in _imports(name, path, known):
            private = target.rpartition(".")[2].startswith("_") and not target.endswith("__")
            if private and _package(name, path) != target.rpartition(".")[0]:
                bad.append((name, target))
    assert sorted(set(bad) - KNOWN_PRIVATE_IMPORTS) == []
