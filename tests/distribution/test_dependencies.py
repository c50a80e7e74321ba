"""Dependencies by need: what each part of hanport imports is declared where that part is
installed from (the base for the reader, an extra for the rest), every dependency is bounded
both ways, the lock satisfies pyproject.toml, and a command names the extra it lacks."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from hanport.extras import EXTRA_FOR_COMMAND, EXTRA_FOR_MODULE, INCLUDED_EXTRAS
from services.paths import REPO_ROOT

PROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
LOCK = REPO_ROOT / "requirements" / "constraints.txt"
SRC = REPO_ROOT / "src" / "hanport"
BASE = [Requirement(text) for text in PROJECT["dependencies"]]
EXTRAS = {
    extra: [Requirement(text) for text in texts]
    for extra, texts in PROJECT["optional-dependencies"].items()
}
#: where each part of hanport is installed from: the base, or the base and these extras
PART_EXTRAS = {
    "protocol": (),
    "reader": (),
    "emulator": (),
    "portal": ("portal",),
    "demo": ("portal", "demo"),
}


def _distributions(requirements: list[Requirement]) -> set[str]:
    return {canonicalize_name(r.name) for r in requirements if r.name != "hanport"}


def _third_party_imports(paths: list[Path], *, optional: bool = False) -> set[str]:
    """The modules the files import; `optional`: only those imported under `try: … except
    ImportError` (used when installed), else only the others."""
    names = set()
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        guarded = {id(node) for node in _imports_guarded_by_import_error(tree)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom) and (id(node) in guarded) == optional:
                names |= _top_level_names(node)
    return {n for n in names if n not in sys.stdlib_module_names and n != "hanport"}


def _top_level_names(node: ast.Import | ast.ImportFrom) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name.partition(".")[0] for alias in node.names}
    return {node.module.partition(".")[0]} if node.module and node.level == 0 else set()


def _imports_guarded_by_import_error(tree: ast.AST) -> list[ast.AST]:
    guarded: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            isinstance(handler.type, ast.Name)
            and handler.type.id in {"ImportError", "ModuleNotFoundError"}
            for handler in node.handlers
        ):
            guarded += [n for statement in node.body for n in ast.walk(statement)]
    return guarded


def _distribution_of(module: str) -> str:
    found = packages_distributions().get(module)
    assert found, f"{module} is imported but no installed distribution provides it"
    return canonicalize_name(found[0])


@pytest.mark.parametrize("part", sorted(PART_EXTRAS))
def test_each_part_imports_only_what_its_install_declares(part: str) -> None:
    declared = _distributions(BASE)
    for extra in PART_EXTRAS[part]:
        declared |= _distributions(EXTRAS[extra])
    imported = _third_party_imports(sorted((SRC / part).rglob("*.py")))
    undeclared = {m: _distribution_of(m) for m in imported if _distribution_of(m) not in declared}
    assert not undeclared, f"hanport.{part} imports undeclared {undeclared}"


def test_the_top_level_modules_need_only_the_base() -> None:
    imported = _third_party_imports(sorted(SRC.glob("*.py")))
    assert {_distribution_of(m) for m in imported} <= _distributions(BASE)


def test_optional_imports_are_declared_in_an_extra() -> None:
    # e.g. orjson for hanport decode, Babel for catalogs edited in a working tree
    imported = _third_party_imports(sorted(SRC.rglob("*.py")), optional=True)
    declared = set().union(*(_distributions(rs) for rs in EXTRAS.values()))
    assert {_distribution_of(m) for m in imported} <= declared
    assert imported, "no optional import found: the guard detection is broken"


def test_the_base_is_a_reader_without_servers_or_greenlet() -> None:
    names = _distributions(BASE)
    # holidays is the reader's own: tariffs charge public holidays at the night/weekend price
    assert not names & {"psycopg", "aiosmtpd", "greenlet", "httptools", "uvloop"}
    sqlalchemy = next(r for r in BASE if canonicalize_name(r.name) == "sqlalchemy")
    assert not sqlalchemy.extras  # [asyncio] only pulled greenlet: nothing is async on it


def test_every_dependency_has_a_lower_and_an_upper_bound() -> None:
    for requirement in BASE + [r for rs in EXTRAS.values() for r in rs if r.name != "hanport"]:
        operators = {spec.operator for spec in requirement.specifier}
        bounded = "==" in operators or (operators & {">=", ">"} and operators & {"<", "<="})
        assert bounded, f"{requirement} needs a lower and an upper bound"


def test_the_lock_satisfies_pyproject() -> None:
    pins = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if found := re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line):
            pins[canonicalize_name(found[1])] = found[2]
    for requirement in BASE + [r for rs in EXTRAS.values() for r in rs if r.name != "hanport"]:
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in {LOCK.name}: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{LOCK.name} pins {name}=={pins[name]}, outside {requirement}: run `make lock`"
        )
    assert "greenlet" not in pins or "playwright" in pins  # only the browser tests bring it


def test_the_missing_extra_advice_knows_every_extra_module() -> None:
    for module, extra in EXTRA_FOR_MODULE.items():
        assert _distribution_of(module) in _distributions(EXTRAS[extra]), (module, extra)
    for extra in ("portal", "postgres", "demo"):
        mapped = {_distribution_of(m) for m, e in EXTRA_FOR_MODULE.items() if e == extra}
        assert mapped == _distributions(EXTRAS[extra]), extra
    assert set(EXTRA_FOR_COMMAND.values()) <= set(EXTRAS)
    for extra, included in INCLUDED_EXTRAS.items():
        assert {f"hanport[{name}]" for name in included} <= {str(r) for r in EXTRAS[extra]}
