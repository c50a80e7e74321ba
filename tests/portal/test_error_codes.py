"""The error codes in the code and in docs/CONTRACTS.md §5's table are the same, with their HTTP
status: a code a client may see is documented, and a documented code can be seen.

The codes in the code are read from the source, not kept in a third list: every construction of
a PortalError subclass (found through the class tree) with its `code=` or, without one, the
class's default, and the web layer's own (`web.errors.HTTP_FAILURES`, `OTHER_HTTP_FAILURE`). A
class without a default that a raise site leaves without a code, and a code that is not a literal
(unless listed in PASSED_ON), fail here rather than at the raise.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from starlette.exceptions import HTTPException

from hanport.portal.domain.access_requests import IllegalAccessTransition
from hanport.portal.services.errors import Conflict, PortalError
from hanport.portal.web import errors as web_errors
from hanport.portal.web.api_common import API_ERRORS
from hanport.portal.web.app import PortalConfig, create_app

ROOT = Path(__file__).resolve().parents[2]
PORTAL = ROOT / "src" / "hanport" / "portal"
CONTRACTS = ROOT / "docs" / "CONTRACTS.md"
#: the HTTP column of the table for http_error, whose status is the framework's
OTHER = "other"
#: raise sites that pass on a code defined elsewhere: the expression and the code it holds
PASSED_ON = {"illegal.code": IllegalAccessTransition.code}


def _classes() -> dict[str, type[PortalError]]:
    """PortalError and every subclass, by name (web.errors' own included: it is imported)."""
    found: dict[str, type[PortalError]] = {}
    pending: list[type[PortalError]] = [PortalError]
    while pending:
        cls = pending.pop()
        assert found.setdefault(cls.__name__, cls) is cls, f"two PortalErrors {cls.__name__}"
        pending += cls.__subclasses__()
    return found


def _raise_sites() -> Iterator[tuple[str, str, ast.Call]]:
    """(where, class name, call) for every call of a PortalError class in the portal's source."""
    names = set(_classes())
    for path in sorted(PORTAL.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name in names:
                yield f"{path.relative_to(ROOT)}:{node.lineno}", name, node


def codes_in_code() -> set[tuple[int | str, str]]:
    """(HTTP status, code) for every code the portal can answer with."""
    classes = _classes()
    codes: set[tuple[int | str, str]] = set()
    problems = []
    for where, name, call in _raise_sites():
        cls = classes[name]
        if cls is web_errors._HttpFailure:
            continue  # its codes are web.errors' tables, read below
        given = next((k.value for k in call.keywords if k.arg == "code"), None)
        if given is None:
            code = cls.default_code
        elif isinstance(given, ast.Constant) and isinstance(given.value, str):
            code = given.value
        else:
            code = PASSED_ON.get(ast.unparse(given))
        if code is None:
            problems.append(f"{where}: {name} without a code it can be known by")
        else:
            codes.add((cls.status, code))
    assert not problems, "\n".join(problems)
    codes |= {(status, code) for status, (code, _) in web_errors.HTTP_FAILURES.items()}
    codes.add((OTHER, web_errors.OTHER_HTTP_FAILURE[0]))
    return codes


def codes_in_contracts() -> set[tuple[int | str, str]]:
    """(HTTP status, code) for every row of the table under §5's "**Codes**"."""
    text = CONTRACTS.read_text(encoding="utf-8")
    table = text.split("- **Codes**", 1)[1].split("\n\n", 2)[1]
    codes: set[tuple[int | str, str]] = set()
    for row in table.splitlines()[2:]:  # the header and its rule
        status, names, _ = (cell.strip() for cell in row.strip().strip("|").split("|", 2))
        key: int | str = int(status) if status.isdigit() else status
        codes |= {(key, code) for code in re.findall(r"`([a-z_]+)`", names)}
    return codes


def test_every_code_in_the_code_is_in_the_contracts_table_and_back() -> None:
    in_code, documented = codes_in_code(), codes_in_contracts()
    assert len(documented) > 30  # the table was found and read
    undocumented = sorted(in_code - documented, key=str)
    assert not undocumented, f"in the code, not in CONTRACTS §5: {undocumented}"
    dead = sorted(documented - in_code, key=str)
    assert not dead, f"in CONTRACTS §5, never answered by the code: {dead}"


def test_the_openapi_names_only_codes_of_the_table_with_their_status() -> None:
    documented = codes_in_contracts()
    named = 0
    for status, response in API_ERRORS.items():
        for listed in re.findall(r"\(code ([^);]*)", response["description"]):
            for code in re.split(r", | or ", listed.rstrip(" ,…")):
                assert (status, code) in documented, f"OpenAPI {status}: {code}"
                named += 1
    assert named >= len(API_ERRORS)  # every status names at least one code


def test_a_class_without_a_default_code_refuses_to_be_raised_without_one() -> None:
    without = [cls for cls in _classes().values() if cls.default_code is None]
    assert {cls.__name__ for cls in without} >= {"PortalError", "Conflict", "Unauthenticated"}
    with pytest.raises(TypeError, match="needs a code"):
        Conflict("The port is busy")


def test_any_other_http_refusal_gets_http_error_in_the_one_shape() -> None:
    app = create_app(PortalConfig(engine=create_engine("sqlite://"), secret_key="codes-" * 6))

    @app.get("/api/teapot")
    def teapot() -> None:
        raise HTTPException(status_code=418)

    with TestClient(app) as client:
        answer = client.get("/api/teapot", headers={"Accept-Language": "en"})
    assert answer.status_code == 418
    assert answer.json() == {
        "error": {"code": "http_error", "message": "The request was refused", "fields": {}}
    }
