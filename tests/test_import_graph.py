"""The project's own modules import each other without a cycle (a cycle forces lazy imports and hides
the order in which the parts depend on each other).

Every `import` and `from ... import` of a project module is an edge, including the ones inside
functions, and importing `a.b.c` also imports the packages `a.b` and `a`. The check is Tarjan's
strongly connected components over that graph: any component of more than one module is a cycle.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent

PACKAGES = ("components", "stacks", "synth", "policy", "tests", "examples")


def project_modules(root: Path = PROJECT) -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = path
    mods["__main__"] = root / "__main__.py"
    return mods


def import_graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    def resolve(name: str) -> set[str]:
        """The project modules that importing `name` executes (the module and its packages)."""
        out: set[str] = set()
        while name:
            if name in mods:
                out.add(name)
            name = name.rpartition(".")[0]
        return out

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for module, path in mods.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}".strip(".")
                targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            for target in targets:
                graph[module] |= resolve(target) - {module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def report(root: Path = PROJECT) -> dict[str, Any]:
    graph = import_graph(project_modules(root))
    return {
        "modules": sorted(graph),
        "cycles": cycles(graph),
        # components know neither the configuration nor the wiring nor synth
        "layer_violations": sorted(
            f"{m} -> {t}"
            for m, targets in graph.items()
            if m.startswith("components")
            for t in targets
            if not t.startswith("components")
        ),
    }


def _report_in_a_fresh_interpreter() -> dict[str, Any]:
    """`ast.parse` of CPython 3.11 can fail with "AST constructor recursion depth mismatch" after
    other tests recursed deeply in this process (the config fuzz tests do): parse in a new one."""
    out = subprocess.run(
        [sys.executable, "-m", "tests.test_import_graph"], cwd=PROJECT, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def test_the_import_graph_has_no_cycle() -> None:
    found = _report_in_a_fresh_interpreter()
    assert {"stacks.mesh", "stacks.config", "components.constants", "synth.engine"} <= set(found["modules"])
    assert found["cycles"] == []


def test_components_import_nothing_of_the_composition() -> None:
    assert _report_in_a_fresh_interpreter()["layer_violations"] == []


def test_the_cycle_check_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]


if __name__ == "__main__":
    print(json.dumps(report()))
