"""labkit's imports only go down: every module's imports (module-level and inside functions), read from the source,
make a graph without a cycle, and no module imports another package's private (``_x``) module."""

from labkit.imports import imports, modules


def _graph() -> dict[str, set[str]]:
    """Module -> the modules it imports, and the packages above each one outside its own package (importing
    ``labkit.labs._spec`` runs ``labkit/labs/__init__.py`` first)."""
    known = modules()
    graph = {}
    for name, path in known.items():
        edges = set()
        for target in imports(name, path, known):
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


def test_the_import_graph_has_no_cycle():
    graph = _graph()
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_check_finds_a_cycle():
    """The test above can fail: an import loop like the one issue 25 removed (the step cap read from the labs)."""
    graph = _graph()
    graph["labkit.attacks.universal"] = graph["labkit.attacks.universal"] | {"labkit.labs"}
    assert "labkit.attacks.universal" in _cycle(graph)


def test_the_lab_registry_is_imported_only_from_above():
    """The labs import labkit's methods; only the runner, ``labkit assign`` and its exports for the grading tools,
    the grader, the notebooks' ``student`` and ``labkit check`` import the labs (README, "Layout")."""
    def labs(module):
        return module == "labkit.labs" or module.startswith("labkit.labs.")

    graph = _graph()
    importers = {m for m, targets in graph.items() if not labs(m) and any(labs(t) for t in targets)}
    above = ("labkit.runner", "labkit.assign", "labkit.grading", "labkit.student", "labkit.handin", "labkit.autograde")
    assert sorted(m for m in importers if not any(m == a or m.startswith(a + ".") for a in above)) == []
    assert {a for a in above if any(m == a or m.startswith(a + ".") for m in importers)} == set(above)


def test_nothing_imports_another_packages_private_module():
    known = modules()
    bad = []
    for name, path in known.items():
        for target in imports(name, path, known):
            private = target.rpartition(".")[2].startswith("_") and not target.endswith("__")
            own = name if path.name == "__init__.py" else name.rpartition(".")[0]
            if private and own != target.rpartition(".")[0]:
                bad.append((name, target))
    assert sorted(set(bad)) == []
