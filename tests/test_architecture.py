"""The rules of docs/ARCHITECTURE.md, checked on the source: what the protocol core and the apps
may import, no import cycles inside hanport, short functions in the portal and the reader web."""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import hanport.protocol

SOURCE = Path(__file__).resolve().parents[1] / "src" / "hanport"
#: what the protocol core may import besides the standard library's pure modules
_CORE_ALLOWED_THIRD_PARTY = {"cryptography"}
_CORE_FORBIDDEN_STDLIB = {
    "asyncio",
    "socket",
    "select",
    "selectors",
    "threading",
    "logging",
    "subprocess",
    "time",
    "os",
    "io",
}
_APPS = ("emulator", "reader", "portal")
#: where no function may be longer than this many lines (def line to last line)
MAX_FUNCTION_LINES = 80
_SHORT_FUNCTION_AREAS = ("portal", "reader/web", "reader/dashboard")
#: Alembic migrations are history: a released one is never rewritten, however long
_HISTORY = ("portal/db/migrations",)


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                (alias.name, node.level if hasattr(node, "level") else 0) for alias in node.names
            ]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level))
    return found


def test_protocol_core_imports_no_io_no_framework_and_nothing_else_of_ours() -> None:
    import sys

    stdlib = sys.stdlib_module_names
    for path in (SOURCE / "protocol").rglob("*.py"):
        for module, level in _imports(path):
            if level:
                continue  # relative: inside the core
            top = module.split(".")[0]
            assert top != "hanport", (
                f"{path.name} imports {module}: the core imports nothing of ours"
            )
            assert top not in _CORE_FORBIDDEN_STDLIB, f"{path.name} imports {module} (I/O or clock)"
            assert top in stdlib or top in _CORE_ALLOWED_THIRD_PARTY, (
                f"{path.name} imports {module}"
            )


def test_apps_use_only_the_public_protocol_api_and_not_each_other() -> None:
    for app in _APPS:
        for path in (SOURCE / app).rglob("*.py"):
            for module, level in _imports(path):
                if level:
                    continue
                assert not module.startswith("hanport.protocol._"), (
                    f"{path}: private core module {module}"
                )
                for other in _APPS:
                    if other != app:
                        assert not module.startswith(f"hanport.{other}"), f"{path} imports {module}"


def test_exported_members_are_the_public_names() -> None:
    public = sorted(
        name
        for name in dir(hanport.protocol)
        if (not name.startswith("_") and name[0].isupper()) or name in hanport.protocol.__all__
    )
    not_exports = {"lists", "TYPE_CHECKING"}  # a subpackage; the flag for typing-only imports
    assert sorted(hanport.protocol.__all__) == sorted(set(public) - not_exports)
    for name in hanport.protocol.__all__:
        assert getattr(hanport.protocol, name) is not None


def test_test_modules_have_unique_names() -> None:
    """Test folders without __init__.py share one module namespace: a repeated file name stops
    the whole run at collection."""
    tests = Path(__file__).resolve().parent
    seen: dict[str, Path] = {}
    for path in sorted(tests.rglob("test_*.py")):
        if (path.parent / "__init__.py").exists():
            continue
        assert path.name not in seen, f"{path} and {seen[path.name]} share a module name"
        seen[path.name] = path


# -- import cycles ------------------------------------------------------------------------------


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


_MODULES = {_module_name(path): path for path in SOURCE.rglob("*.py")}


def _imported_modules(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """Our modules that ``module`` imports anywhere in its file (functions and
    ``TYPE_CHECKING`` blocks included), with the line of each import."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            # `from package import module` imports the module; `from module import name` the module
            names = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in _MODULES else source
                for alias in node.names
            ]
        else:
            continue
        for name in names:
            target = name
            while target and target not in _MODULES:  # `import a.b.name` → the module a.b
                target = target.rpartition(".")[0]
            if target and target != module:
                yield target, node.lineno


def import_graph() -> dict[str, dict[str, int]]:
    """module → {module it imports: line of the first such import}."""
    graph: dict[str, dict[str, int]] = {}
    for module, path in _MODULES.items():
        edges: dict[str, int] = {}
        for target, line in _imported_modules(module, path):
            edges.setdefault(target, line)
        graph[module] = edges
    return graph


def _strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively: the groups of modules that reach each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
    return groups


def _shortest_cycle(graph: dict[str, dict[str, int]], group: list[str]) -> list[str]:
    """A shortest path from the group's first module back to itself, inside the group."""
    start, members = group[0], set(group)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node]):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if target in members and target not in previous and target != start:
                    previous[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # a strongly connected group has one


def import_cycles() -> list[str]:
    """Each cycle as ``a (line 3) → b (line 12) → a``: the line of the import in each module."""
    graph = import_graph()
    described = []
    for group in _strongly_connected(graph):
        cycle = _shortest_cycle(graph, group)
        steps = [
            f"{module} (line {graph[module][following]})"
            for module, following in itertools.pairwise(cycle)
        ]
        others = sorted(set(group) - set(cycle))
        also = f"; the same knot also holds {', '.join(others)}" if others else ""
        described.append(" → ".join([*steps, cycle[-1]]) + also)
    return described


def test_the_cycle_finder_finds_a_cycle_and_names_its_path() -> None:
    # The checker itself: an empty answer on our tree means something only if it can say no.
    graph = {"a": {"b": 3}, "b": {"c": 7}, "c": {"a": 1, "d": 2}, "d": {}}
    groups = _strongly_connected(graph)
    assert [sorted(group) for group in groups] == [["a", "b", "c"]]
    assert _shortest_cycle(graph, groups[0])[0] == _shortest_cycle(graph, groups[0])[-1]
    assert set(_shortest_cycle(graph, groups[0])) == {"a", "b", "c"}


def test_no_import_cycles_inside_hanport() -> None:
    """Function-level imports count: a cycle hidden in a function is still a knot."""
    cycles = import_cycles()
    if cycles:
        pytest.fail("import cycles:\n  " + "\n  ".join(cycles), pytrace=False)


# -- function length ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LongFunction:
    name: str
    path: Path
    line: int
    lines: int

    def __str__(self) -> str:
        where = self.path.relative_to(SOURCE.parents[1])
        return f"{self.name} in {where}:{self.line}: {self.lines} lines"


def _functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, ast.AST]]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            name = f"{prefix}{node.name}"
            if not isinstance(node, ast.ClassDef):
                yield name, node
            yield from _functions(node, f"{name}.")
        else:
            yield from _functions(node, prefix)


def long_functions(limit: int = MAX_FUNCTION_LINES) -> list[LongFunction]:
    found = []
    for area in _SHORT_FUNCTION_AREAS:
        for path in sorted((SOURCE / area).rglob("*.py")):
            if any(path.is_relative_to(SOURCE / history) for history in _HISTORY):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for name, node in _functions(tree):
                assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                assert node.end_lineno is not None
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    found.append(LongFunction(name, path, node.lineno, lines))
    return found


def test_the_length_check_sees_the_functions_it_measures() -> None:
    # With a limit no real function meets, every measured function must be reported.
    assert len(long_functions(limit=1)) > 100


def test_functions_in_the_portal_and_the_reader_web_are_short() -> None:
    too_long = long_functions()
    if too_long:
        listed = "\n  ".join(str(function) for function in too_long)
        pytest.fail(f"functions over {MAX_FUNCTION_LINES} lines:\n  {listed}", pytrace=False)


_WEB_PACKAGES = ("hanport.portal.web", "hanport.reader.web")


def _defines_a_router(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.Assign | ast.AnnAssign)
        and any(
            isinstance(t, ast.Name) and t.id == "router"
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
        )
        for node in tree.body
    )


def test_only_the_app_imports_a_router_module() -> None:
    """Routers are leaves: what two areas share lives in a helper module that imports no
    router (web.common, web.api_common, web.oidc_session), and only app.py composes."""
    graph = import_graph()
    routers = {
        m for m, p in _MODULES.items() if m.startswith(_WEB_PACKAGES) and _defines_a_router(p)
    }
    assert {"hanport.portal.web.api", "hanport.portal.web.oidc"} <= routers
    wrong = [
        f"{module} imports {target} (line {line})"
        for module, edges in graph.items()
        if module.startswith(_WEB_PACKAGES) and not module.endswith(".app")
        for target, line in edges.items()
        if target in routers
    ]
    assert not wrong, "\n".join(wrong)
