"""The dependency rule of docs/ARCHITECTURE.md, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

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
