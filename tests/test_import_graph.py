"""The package's modules import each other without cycles, function-level imports included.

The graph is read from the source (ast), not from what Python happened to import, so a cycle hidden by
an import inside a function is found too. Imports under `if TYPE_CHECKING:` never run and are left out.
"""

import ast

from source_graph import cycles, import_graph, imported_names


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
