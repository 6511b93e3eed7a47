"""The package's modules import each other without cycles, function-level imports included.

The graph is read from the source (ast), not from what Python happened to import, so a cycle hidden by
an import inside a function is found too. Imports under `if TYPE_CHECKING:` never run and are left out.
"""

import ast
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent / "src"


def module_files() -> dict[str, Path]:
    files = {}
    for path in (PACKAGE_ROOT / "finecliper").rglob("*.py"):
        parts = path.relative_to(PACKAGE_ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        files[name] = path
    return files


def is_type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every dotted name the module imports (`from a import b` gives a.b and a), relative ones resolved."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if is_type_checking_block(node):
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    graph = {}
    for module, path in files.items():
        targets = set()
        for name in imported_names(ast.parse(path.read_text()), module, path.name == "__init__.py"):
            # Importing a.b.c runs a, a.b and a.b.c; only the package's own modules are nodes.
            parts = name.split(".")
            targets.update(".".join(parts[:i]) for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in files)
        # A module's own parent packages run before it and are not an edge back to it.
        graph[module] = {t for t in targets if t != module and not module.startswith(t + ".")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def strongconnect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return found


def test_the_graph_is_read_from_the_source():
    graph = import_graph()
    assert {"finecliper.config.model", "finecliper.errors"} <= graph["finecliper.config.presets"]
    assert graph["finecliper.registry"] == {"finecliper.errors"}
    importers_of_cli = {name for name, targets in graph.items() if "finecliper.cli" in targets}
    assert importers_of_cli - {"finecliper.__main__"} <= {n for n in graph if n.startswith("finecliper.cli.")}


def test_cycles_are_found_also_through_function_level_imports():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    tree = ast.parse("def f():\n    from finecliper.config import presets\n")
    assert "finecliper.config.presets" in imported_names(tree, "finecliper.config", is_package=False)
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from finecliper.config import presets\n")
    assert "finecliper.config.presets" not in imported_names(tree, "finecliper.config", is_package=False)


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_packages_import_one_way():
    """Between the package's parts (config/, data/, model/, ... and the top-level modules) imports flow one
    way too, so each part can be read knowing only the parts below it (docs/design.md §6)."""
    part = lambda module: module.split(".")[1] if "." in module else module  # noqa: E731
    graph: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        graph.setdefault(part(module), set()).update(part(t) for t in targets if part(t) not in (part(module), "finecliper"))
    for targets in list(graph.values()):
        for t in targets:
            graph.setdefault(t, set())
    found = cycles(graph)
    assert not found, "parts importing each other: " + "; ".join(" <-> ".join(c) for c in found)
