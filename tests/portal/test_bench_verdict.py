"""bench/portal_load.py's statistics and verdict: only successful requests are timed, any failed
one fails the run, and the schedule is open-loop. Nothing here is timed."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


bench = _load("portal_load")  # puts bench/ on the path: portal_client is the same module
client = sys.modules["portal_client"]


def outcomes(kind: str, ms: float, count: int, failure: str = "", due: float = 3.0) -> list[Any]:
    return [client.Outcome(kind, failure, ms, due)] * count


def test_failed_requests_stay_out_of_the_percentiles_and_fail_the_run() -> None:
    # 190 fast errors and 10 slow orders: timing them all would give a p95 of 5 ms
    portal = client.report(
        outcomes(client.API_ORDER, 5.0, 190, "HTTP 500")
        + outcomes(client.API_ORDER, 900.0, 10)
        + outcomes(client.POINT_PAGE, 20.0, 100),
        seconds=10,
    )
    assert portal.orders.p95_ms == 900.0
    assert portal.orders.failed == 190 and portal.everything.failed == 190
    assert portal.orders_per_s == 1.0
    assert "failed order, API: 190× HTTP 500" in portal.lines()
    bare = client.report(outcomes(client.API_ORDER, 2.0, 200), seconds=10)
    verdict = bench.Verdict(portal, bare)
    assert not verdict.ok
    assert "MISSES" in verdict.text() and "190 requests to the portal failed" in verdict.text()


def test_a_fast_portal_meets_the_target_and_is_compared_with_the_bare_endpoint() -> None:
    portal = client.report(
        outcomes(client.WEB_ORDER, 40.0, 95) + outcomes(client.WEB_ORDER, 120.0, 5), seconds=2
    )
    bare = client.report(outcomes(client.WEB_ORDER, 4.0, 100), seconds=2)
    verdict = bench.Verdict(portal, bare)
    assert verdict.ok and "meets" in verdict.text()
    assert verdict.ratio == 10.0  # p95 40 ms against 4 ms
    # a failing bare endpoint makes the ratio meaningless: the run fails
    broken = client.report(outcomes(client.WEB_ORDER, 4.0, 100, "no answer"), seconds=2)
    assert not bench.Verdict(portal, broken).ok


def test_a_slow_order_fails_even_when_reads_are_fast() -> None:
    portal = client.report(
        outcomes(client.API_ORDER, 200.0, 10) + outcomes(client.POINTS_LIST, 1.0, 1000), seconds=1
    )
    bare = client.report(outcomes(client.API_ORDER, 1.0, 10), seconds=1)
    assert portal.everything.p95_ms == 1.0 and portal.orders.p95_ms == 200.0
    assert not bench.Verdict(portal, bare).ok


def test_percentiles_by_nearest_rank_and_none_without_successes() -> None:
    values = [float(n) for n in range(1, 101)]
    assert client.percentile(values, 0.50) == 51.0  # rank round(0.5 × 99) = 50, zero-based
    assert client.percentile(values, 0.95) == 95.0
    assert client.percentile(values, 0.99) == 99.0
    nothing = client.summarise("orders", outcomes(client.API_ORDER, 1.0, 3, "no answer"))
    assert nothing.ok == 0 and math.isinf(nothing.p95_ms) and "none succeeded" in nothing.row()


def test_only_the_judged_window_counts() -> None:
    early = outcomes(client.API_ORDER, 9000.0, 5, due=1.0)  # warm-up
    inside = outcomes(client.API_ORDER, 10.0, 5, due=3.0)
    late = outcomes(client.API_ORDER, 9000.0, 5, due=5.0)  # = start + seconds: outside
    assert client.judged(early + inside + late, 2.0, 3.0) == inside


def test_what_counts_as_a_failed_answer() -> None:
    answer = client.Answer
    assert client.failure_of(client.WEB_ORDER, answer(303, {"location": "/orders/7"})) == ""
    # a form the portal did not take redirects elsewhere: not an order
    signin = answer(303, {"location": "/signin?next=/points"})
    assert client.failure_of(client.WEB_ORDER, signin) == "HTTP 303 to /signin?next=/points"
    assert client.failure_of(client.API_ORDER, answer(201, body=b'{"id": 12}')) == ""
    assert client.failure_of(client.API_ORDER, answer(201, body=b"{}")) == (
        "HTTP 201 without an order id"
    )
    refused = answer(409, body=b'{"error": {"code": "already_open", "message": "Order 12"}}')
    assert client.failure_of(client.API_ORDER, refused) == "HTTP 409 (already_open)"
    busy = answer(409, body=b'{"message": "Order 12 is being carried out"}')
    assert client.failure_of(client.API_ORDER, busy) == "HTTP 409 (Order # is being carried out)"
    assert client.failure_of(client.POINT_PAGE, answer(0)) == "no answer"
    page = b'<h1>Noe gikk galt</h1>\n<p class="error" role="alert">Bestilling 9 utf&#248;res</p>'
    assert client.failure_of(client.WEB_ORDER, answer(409, body=page)) == (
        "HTTP 409 (Bestilling # utføres)"
    )


def test_the_schedule_is_open_loop_and_alternates() -> None:
    schedule = client.plan(rate=50, seconds=20, customers=500)
    orders = [item for item in schedule if item.kind in client.ORDER_KINDS]
    assert len(orders) == 1000
    # order n is due at n / rate after the reads' lead, whatever the answers take
    assert [item.at for item in orders[:3]] == [2.0, 2.02, 2.04]
    assert [item.kind for item in orders[:2]] == [client.WEB_ORDER, client.API_ORDER]
    # each customer orders every customers / rate = 10 s, open then close
    first = [item for item in orders if item.customer == 7]
    assert [(item.at, item.action) for item in first] == [(2.14, "open"), (12.14, "close")]
    reads = [item for item in schedule if item.kind not in client.ORDER_KINDS]
    assert len(reads) == 1000  # two per web order; the follow-up reads come on the answers
    assert schedule == sorted(schedule, key=lambda item: item.at)
    alone = client.plan(rate=50, seconds=20, customers=500, reads=False)
    assert alone == orders


def test_orders_answered_late_lower_the_rate_achieved() -> None:
    # 10 orders due over 1 s, the last answered 4 s after the first was due
    placed = [client.Outcome(client.API_ORDER, "", 10.0, 3.0 + n / 10) for n in range(9)]
    placed.append(client.Outcome(client.API_ORDER, "", 3100.0, 3.9))
    assert client.report(placed, seconds=1).orders_per_s == 10 / 4.0
    on_time = [client.Outcome(client.API_ORDER, "", 10.0, 3.0 + n / 10) for n in range(10)]
    assert client.report(on_time, seconds=1).orders_per_s == 10.0


def test_a_refused_order_is_a_correct_answer_counted_apart() -> None:
    # 409: the rules refused it (an order in progress, the port already open): not a failure,
    # not a success either, and not timed as an order
    answer = client.Answer
    busy = answer(409, body=b'{"error": {"code": "order_in_progress", "message": "Order 3"}}')
    assert client.refusal_of(client.API_ORDER, busy) == "HTTP 409 (order_in_progress)"
    assert client.refusal_of(client.API_ORDER, answer(500)) == ""
    assert client.refusal_of(client.POINT_PAGE, busy) == ""  # only orders are refused
    refused = [client.Outcome(client.API_ORDER, "", 2.0, 3.0, refused="HTTP 409 (already_open)")]
    portal = client.report(
        refused * 10 + outcomes(client.API_ORDER, 50.0, 90) + outcomes(client.POINT_PAGE, 9.0, 9),
        seconds=1,
    )
    assert portal.orders.refused == 10 and portal.orders.failed == 0
    assert portal.orders.sent == 100 and portal.orders.p50_ms == 50.0
    assert portal.orders_per_s == 90.0  # orders placed, not answers
    assert "refused order, API (a correct answer, not timed): 10× HTTP 409 (already_open)" in (
        portal.lines()
    )
    bare = client.report(outcomes(client.API_ORDER, 5.0, 100), seconds=1)
    assert bench.Verdict(portal, bare).ok
