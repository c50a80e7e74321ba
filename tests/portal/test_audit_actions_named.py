"""Every audit action the port service writes has a line in words (web.audit_lines.ACTIONS), so
customer service never reads a raw code, and a new action cannot be added without one.

The actions are found in the source of services/, jobs.py and seed.py: the action argument of
`tx.audit`, `tx.refuse`, `tx.record_refusal` and `AuditEntry`, and where that is a parameter
(`authorised_order(..., "order.view")`), the literals the callers pass for it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from hanport.i18n import translations
from hanport.portal.domain.order_states import OrderEvent
from hanport.portal.web.audit_lines import ACTIONS, audit_line
from hanport.portal.web.i18n import NAMES

PORTAL = Path(__file__).resolve().parents[2] / "src" / "hanport" / "portal"
#: the plumbing that takes any action (tx.Tx's own methods, the chain's writer)
PLUMBING = {"tx.py", "audit.py"}
#: call -> (position of the action argument, True when it is written as "<action>.refused")
WRITERS = {"audit": (1, False), "refuse": (1, True), "record_refusal": (1, True)}
ENTRY_POSITION = 2  # AuditEntry(at, actor, action, ...)


def _sources() -> list[Path]:
    services = sorted((PORTAL / "services").glob("*.py"))
    return [p for p in services if p.name not in PLUMBING] + [
        PORTAL / "jobs.py",
        PORTAL / "seed.py",
    ]


def _callee(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else None


def _argument(call: ast.Call, position: int, name: str) -> ast.expr | None:
    if len(call.args) > position:
        return call.args[position]
    return next((k.value for k in call.keywords if k.arg == name), None)


class _Scan(ast.NodeVisitor):
    """Action expressions per writer call, and every function's parameters and calls."""

    def __init__(self) -> None:
        self.found: set[str] = set()
        self.formatted: list[str] = []  # f-string actions, checked by their prefix
        self.pending: list[tuple[str, str, bool]] = []  # (function, parameter, refused)
        self.params: dict[str, list[str]] = {}
        self.calls: list[tuple[str, ast.Call]] = []  # (enclosing function, call)
        self._stack = ["<module>"]

    def read(self, path: Path) -> None:
        self.visit(ast.parse(path.read_text(encoding="utf-8")))

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
        self.params[node.name] = [a.arg for a in args]
        self._stack.append(node.name)
        self.generic_visit(node)
        self._stack.pop()

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_Call(self, node: ast.Call) -> None:
        self.calls.append((self._stack[-1], node))
        callee = _callee(node)
        if callee in WRITERS:
            position, refused = WRITERS[callee]
            self._take(self._stack[-1], _argument(node, position, "action"), refused)
        elif callee == "AuditEntry":
            self._take(self._stack[-1], _argument(node, ENTRY_POSITION, "action"), False)
        self.generic_visit(node)

    def _take(self, function: str, action: ast.expr | None, refused: bool) -> None:
        suffix = ".refused" if refused else ""
        if isinstance(action, ast.Constant) and isinstance(action.value, str):
            self.found.add(action.value + suffix)
        elif isinstance(action, ast.IfExp):
            self._take(function, action.body, refused)
            self._take(function, action.orelse, refused)
        elif isinstance(action, ast.JoinedStr):
            self.formatted.append(ast.unparse(action))
        elif isinstance(action, ast.Name) and action.id in self.params.get(function, []):
            self.pending.append((function, action.id, refused))
        else:
            where = "nothing" if action is None else ast.unparse(action)
            raise AssertionError(f"{function}: cannot tell the audit action from {where}")

    def resolve(self) -> None:
        """The literals callers pass for an action that is a parameter (one or more hops)."""
        seen: set[tuple[str, str, bool]] = set()
        while self.pending:
            function, parameter, refused = self.pending.pop()
            if (function, parameter, refused) in seen:
                continue
            seen.add((function, parameter, refused))
            position = self.params[function].index(parameter)
            callers = [(f, c) for f, c in self.calls if _callee(c) == function]
            assert callers, f"{function} is never called: where does its {parameter} come from?"
            for caller, call in callers:
                self._take(caller, _argument(call, position, parameter), refused)


def _written_actions() -> tuple[set[str], list[str]]:
    scan = _Scan()
    for path in _sources():
        scan.read(path)
    scan.resolve()
    return scan.found, scan.formatted


def _each_action() -> Iterator[str]:
    found, _ = _written_actions()
    yield from sorted(found)


def test_the_scan_finds_the_actions_it_should() -> None:
    found, formatted = _written_actions()
    # one of each way of writing an action: a literal, a refusal, a parameter, an f-string
    assert {"order.submitted", "proxy.invite.refused", "order.view.refused"} <= found
    assert {"provider.registered", "access_request.created"} <= found
    assert formatted == ["f'order.{event.value}'"]


@pytest.mark.parametrize("action", list(_each_action()))
@pytest.mark.parametrize("lang", ["nb", "nn", "en"])
def test_every_written_action_has_a_line_in_words(action: str, lang: str) -> None:
    line = audit_line(translations("portal", lang), NAMES, action, "{}")
    assert action.removesuffix(".refused") not in line, f"{action}: no words in ACTIONS"


def test_every_order_event_has_a_name() -> None:
    # order.<event> (jobs.py) is named by the event's name
    en = translations("portal", "en")
    for event in OrderEvent:
        line = audit_line(en, NAMES, f"order.{event.value}", "{}")
        assert line != f"order.{event.value}", event


def test_no_line_is_kept_for_an_action_nobody_writes() -> None:
    found, _ = _written_actions()
    bases = {a.removesuffix(".refused") for a in found}
    assert set(ACTIONS) - bases == set()
