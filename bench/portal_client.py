"""The customers of bench/portal_load.py: an open-loop schedule of orders and page reads, sent
over plain asyncio connections, and the statistics of the answers.

Order n is due at n / rate seconds whatever the answers before it took, and a request's latency
runs from the moment it was due to the last byte of its answer, so a slow server cannot slow the
client down and hide its queue (coordinated omission). A read that follows an order (the web
form's redirect, the API order read back) is timed from when it was sent. Each request opens its
own connection; no HTTP client library, as one costs about a millisecond of CPU per request,
which would be measured as the server's latency.
"""

from __future__ import annotations

import asyncio
import html
import json
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode

T = TypeVar("T")

LOOPBACK = "127.0.0.1"
SESSION_COOKIE = "hanport_session"  # the portal's session cookie over plain http
POINTS_LIST_LEAD_S = 2.0  # a web customer loads the points list this long before ordering …
POINT_PAGE_LEAD_S = 1.0  # … and the point page with the order form this long before
REQUEST_TIMEOUT_S = 30.0

WEB_ORDER = "order, web form"
API_ORDER = "order, API"
POINTS_LIST = "points list page"
POINT_PAGE = "point page"
ORDER_PAGE = "order page (redirect)"
API_ORDER_READ = "order read, API"
ORDER_KINDS = (WEB_ORDER, API_ORDER)
#: what a request of each kind answers when it succeeded; anything else is a failure
EXPECTED_STATUS = {
    WEB_ORDER: 303,
    API_ORDER: 201,
    POINTS_LIST: 200,
    POINT_PAGE: 200,
    ORDER_PAGE: 200,
    API_ORDER_READ: 200,
}
TABLE_KINDS = (WEB_ORDER, API_ORDER, POINTS_LIST, POINT_PAGE, ORDER_PAGE, API_ORDER_READ)


# -- the schedule ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Planned:
    """One request the schedule sends by itself (reads that follow an order are not planned)."""

    at: float  #: seconds after the schedule's start when it is due
    kind: str
    customer: int  #: index into the customers
    action: str = ""  #: open | close, for orders


def is_web(customer: int) -> bool:
    """Even customers use the web form, odd ones the API."""
    return customer % 2 == 0


def plan(rate: float, seconds: float, customers: int, *, reads: bool = True) -> list[Planned]:
    """The open-loop schedule: order n due at POINTS_LIST_LEAD_S + n / rate, by customer
    n mod customers, open on their even turns and close on their odd ones; with `reads`, a web
    customer's two page reads before each order. Sorted by the moment each request is due."""
    planned = []
    for n in range(round(rate * seconds)):
        at = POINTS_LIST_LEAD_S + n / rate
        customer, turn = n % customers, n // customers
        action = "open" if turn % 2 == 0 else "close"
        if is_web(customer) and reads:
            planned += [
                Planned(at - POINTS_LIST_LEAD_S, POINTS_LIST, customer),
                Planned(at - POINT_PAGE_LEAD_S, POINT_PAGE, customer),
            ]
        planned.append(Planned(at, WEB_ORDER if is_web(customer) else API_ORDER, customer, action))
    return sorted(planned, key=lambda item: item.at)


# -- statistics and verdict --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str
    failure: str  #: empty when the answer is what success looks like; else what it was
    latency_ms: float  #: from when it was due (planned) or sent (a follow-up) to the last byte
    due: float  #: when it, or the order it follows, was due (s after the start): what is judged
    late_ms: float = 0.0  #: how late the client began it (part of latency_ms)
    answered: float = 0.0  #: time.perf_counter() at the answer's last byte
    #: an order the portal refused as the rules say (409: in progress, already open, …): a
    #: correct answer, counted apart from successes and failures
    refused: str = ""

    @property
    def ok(self) -> bool:
        return not self.failure and not self.refused


@dataclass(frozen=True, slots=True)
class KindStats:
    """Latency of the successful requests of some kinds; failures and refusals counted apart
    by what they were, as a fast error or refusal must not pass for a fast order."""

    label: str
    ok: int
    failures: Counter[str]
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float  #: all inf when none succeeded
    refusals: Counter[str] = field(default_factory=Counter)  #: orders refused by the rules

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def refused(self) -> int:
        return sum(self.refusals.values())

    @property
    def sent(self) -> int:
        return self.ok + self.failed + self.refused

    def row(self) -> str:
        figures = (self.p50_ms, self.p95_ms, self.p99_ms, self.max_ms)
        shown = " ".join(f"{value:>7.1f}" for value in figures) if self.ok else "    none succeeded"
        return f"{self.label:<22} {self.sent:>6} {self.refused:>7} {self.failed:>6} {shown}"


TABLE_HEADER = (
    f"{'requests':<22} {'sent':>6} {'refused':>7} {'failed':>6} {'p50 ms':>7} {'p95 ms':>7} "
    f"{'p99 ms':>7} {'max ms':>7}"
)


def percentile(values: list[float], share: float) -> float:
    """Nearest rank of the sorted values; inf for none."""
    if not values:
        return math.inf
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summarise(label: str, outcomes: Iterable[Outcome]) -> KindStats:
    outcomes = list(outcomes)
    ms = [outcome.latency_ms for outcome in outcomes if outcome.ok]
    failures = Counter(outcome.failure for outcome in outcomes if outcome.failure)
    refusals = Counter(
        outcome.refused for outcome in outcomes if outcome.refused and not outcome.failure
    )
    return KindStats(
        label,
        len(ms),
        failures,
        percentile(ms, 0.50),
        percentile(ms, 0.95),
        percentile(ms, 0.99),
        max(ms, default=math.inf),
        refusals,
    )


def judged(outcomes: Iterable[Outcome], start: float, seconds: float) -> list[Outcome]:
    """The outcomes whose request (or whose order) was due in [start, start + seconds)."""
    return [outcome for outcome in outcomes if start <= outcome.due < start + seconds]


@dataclass(frozen=True, slots=True)
class RunReport:
    """The judged part of one run against one server."""

    by_kind: dict[str, KindStats]
    orders: KindStats  #: both order kinds together: what the target is about
    everything: KindStats
    orders_per_s: float  #: successful orders per second, until the last order's answer
    late_p99_ms: float  #: the client's own lateness in beginning planned requests
    late_max_ms: float

    def lines(self) -> list[str]:
        sent = [self.by_kind[kind] for kind in TABLE_KINDS if self.by_kind[kind].sent]
        rows = [TABLE_HEADER] + [stats.row() for stats in sent]
        rows += [self.orders.row(), self.everything.row()]
        rows.append(
            f"orders achieved {self.orders_per_s:.1f}/s; the client began requests late by "
            f"p99 {self.late_p99_ms:.1f} ms, at most {self.late_max_ms:.1f} ms (counted in "
            "the latency)"
        )
        for stats in self.by_kind.values():
            if stats.failures:
                detail = ", ".join(f"{n}× {what}" for what, n in sorted(stats.failures.items()))
                rows.append(f"failed {stats.label}: {detail}")
        for stats in self.by_kind.values():
            if stats.refusals:
                detail = ", ".join(f"{n}× {what}" for what, n in sorted(stats.refusals.items()))
                rows.append(f"refused {stats.label} (a correct answer, not timed): {detail}")
        return rows


def report(outcomes: list[Outcome], seconds: float) -> RunReport:
    """Statistics of judged outcomes (see `judged`) over a window of `seconds`. The orders
    achieved per second count until the last order's answer: behind schedule, fewer than
    were sent."""
    placed = [o for o in outcomes if o.kind in ORDER_KINDS]
    orders = summarise("orders, all", placed)
    late = [o.late_ms for o in outcomes if o.kind not in (ORDER_PAGE, API_ORDER_READ)]
    span = seconds
    if placed:
        last_answer = max(o.due + o.latency_ms / 1000 for o in placed)
        span = max(seconds, last_answer - min(o.due for o in placed))
    return RunReport(
        {kind: summarise(kind, (o for o in outcomes if o.kind == kind)) for kind in TABLE_KINDS},
        orders,
        summarise("requests, all", outcomes),
        orders.ok / span,
        percentile(late, 0.99) if late else 0.0,
        max(late, default=0.0),
    )


# -- the client --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Customer:
    metering_point_id: str
    credential: str  #: session token (web) or API key
    csrf: str = ""  #: the web form's CSRF token, read from the point page before the run


def order_fields(action: str, terms_id: int) -> dict[str, Any]:
    if action == "close":
        return {"action": "close"}
    return {
        "action": "open",
        "terms_version_id": terms_id,
        "declaration": "inside_home",
        "module_option": "have",
    }


def http_request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {LOOPBACK}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def planned_request(item: Planned, customer: Customer, terms_id: int) -> bytes:
    point = customer.metering_point_id
    if item.kind == API_ORDER:
        fields = order_fields(item.action, terms_id) | (
            {"terms_accepted": True} if item.action == "open" else {}
        )
        return http_request(
            "POST",
            f"/api/v1/metering-points/{point}/orders",
            {
                "Authorization": f"Bearer {customer.credential}",
                "Content-Type": "application/json",
                "Accept-Language": "en",
            },
            json.dumps(fields).encode(),
        )
    cookie = {"Cookie": f"{SESSION_COOKIE}={customer.credential}"}
    if item.kind == WEB_ORDER:
        fields = {"csrf": customer.csrf} | order_fields(item.action, terms_id)
        if item.action == "open":
            fields["terms_accepted"] = "yes"
        else:
            fields["confirm"] = "yes"  # the close's confirmation page, answered "yes"
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        return http_request(
            "POST", f"/points/{point}/orders", cookie | form, urlencode(fields).encode()
        )
    return http_request(
        "GET", "/points" if item.kind == POINTS_LIST else f"/points/{point}", cookie
    )


def refusal_of(kind: str, answer: Answer) -> str:
    """What the portal refused an order for (HTTP 409: in progress, already open, …): the
    rules answering, not a failure; empty for any other answer."""
    if kind not in ORDER_KINDS or answer.status != 409:
        return ""
    return f"HTTP 409{error_code(answer)}"


def failure_of(kind: str, answer: Answer) -> str:
    """Empty when the answer is what success of this kind looks like; else what it was."""
    if answer.status == 0:
        return "no answer"
    if answer.status != EXPECTED_STATUS[kind]:
        return f"HTTP {answer.status}{error_code(answer)}"
    if kind == WEB_ORDER and not answer.headers.get("location", "").startswith("/orders/"):
        # the redirect of a form that was not accepted (to the sign-in page, say)
        return f"HTTP 303 to {answer.headers.get('location', '(nowhere)')}"
    if kind == API_ORDER and order_id(answer) is None:
        return "HTTP 201 without an order id"
    return ""


def error_code(answer: Answer) -> str:
    """' (what)' of an error answer: the API body's machine-readable code or its message, or
    the error page's message, with numbers left out (the same refusal for different orders is
    one kind); empty when the body says nothing readable."""
    try:
        body = json.loads(answer.body)
        error = body["error"] if isinstance(body.get("error"), dict) else body
        said = str(error.get("code") or error["message"])
    except (ValueError, KeyError, TypeError, AttributeError):
        page = re.search(rb'<p class="error"[^>]*>(.*?)</p>', answer.body, re.DOTALL)
        if page is None:
            return ""
        said = html.unescape(page[1].decode("utf-8", "replace")).strip()
    return f" ({re.sub(r'[0-9]+', '#', said)[:80]})"


def order_id(answer: Answer) -> int | None:
    """The id in an API order's answer."""
    try:
        return int(json.loads(answer.body)["id"])
    except (ValueError, KeyError, TypeError):
        return None


def follow_up(item: Planned, customer: Customer, answer: Answer) -> tuple[str, bytes] | None:
    """The read a customer makes on an accepted order's answer: the web form's redirect to
    the order page, or the API order read back."""
    if item.kind == WEB_ORDER:
        cookie = {"Cookie": f"{SESSION_COOKIE}={customer.credential}"}
        return ORDER_PAGE, http_request("GET", answer.headers["location"], cookie)
    if item.kind == API_ORDER:
        key = {"Authorization": f"Bearer {customer.credential}"}
        return API_ORDER_READ, http_request("GET", f"/api/v1/orders/{order_id(answer)}", key)
    return None


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


async def exchange(port: int, request: bytes) -> Answer:
    """One request on its own connection, read to the last byte of the answer."""
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    try:
        writer.write(request)
        status = int((await reader.readline()).split()[1])
        headers = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = headers.get("content-length")
        body = await (reader.readexactly(int(length)) if length else reader.read())
    finally:
        writer.close()
    return Answer(status, headers, body)


async def guarded_exchange(port: int, request: bytes) -> Answer:
    try:
        return await asyncio.wait_for(exchange(port, request), REQUEST_TIMEOUT_S)
    except (OSError, ValueError, IndexError, asyncio.IncompleteReadError, TimeoutError):
        return Answer(0)  # no (readable) answer: a failure like any unexpected status


@dataclass
class LoadClient:
    port: int
    customers: list[Customer]
    terms_id: int
    reads: bool = True  #: follow an order's answer with the read a customer makes
    outcomes: list[Outcome] = field(default_factory=list)

    async def run(self, schedule: list[Planned], mark_at: float, mark: Callable[[], None]) -> None:
        """Send every planned request when it is due, and the reads that follow orders;
        `mark` runs at `mark_at` seconds (the CPU reading at the judged window's start).

        Time is perf_counter's: uvloop's loop.time() counts whole milliseconds."""
        start = time.perf_counter() + 0.2
        tasks = [asyncio.create_task(self._mark(start + mark_at, mark))]
        for item in schedule:
            while (delay := start + item.at - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self._send(item, start + item.at)))
        await asyncio.gather(*tasks)

    @staticmethod
    async def _mark(when: float, action: Callable[[], None]) -> None:
        while (delay := when - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        await asyncio.to_thread(action)

    async def _send(self, item: Planned, due: float) -> None:
        late_ms = (time.perf_counter() - due) * 1000
        customer = self.customers[item.customer]
        answer = await guarded_exchange(self.port, planned_request(item, customer, self.terms_id))
        answered = time.perf_counter()
        refused = refusal_of(item.kind, answer)
        failure = "" if refused else failure_of(item.kind, answer)
        latency_ms = (answered - due) * 1000
        self.outcomes.append(
            Outcome(item.kind, failure, latency_ms, item.at, late_ms, answered, refused)
        )
        ok = not failure and not refused
        then = follow_up(item, customer, answer) if self.reads and ok else None
        if then is not None:
            kind, request = then
            sent = time.perf_counter()
            answer = await guarded_exchange(self.port, request)
            answered = time.perf_counter()
            failure = failure_of(kind, answer)
            latency_ms = (answered - sent) * 1000
            self.outcomes.append(Outcome(kind, failure, latency_ms, item.at, 0.0, answered))


async def read_csrf_tokens(port: int, customers: list[Customer]) -> list[Customer]:
    """Each web customer's CSRF token, from the form on their point page (it is bound to the
    session, so one reading serves the whole run)."""

    async def read(customer: Customer, gate: asyncio.Semaphore) -> Customer:
        async with gate:
            request = http_request(
                "GET",
                f"/points/{customer.metering_point_id}",
                {"Cookie": f"{SESSION_COOKIE}={customer.credential}"},
            )
            answer = await guarded_exchange(port, request)
        found = re.search(rb'name="csrf" value="([^"]+)"', answer.body)
        if answer.status != 200 or found is None:
            raise SystemExit(f"no order form on the point page (HTTP {answer.status})")
        return Customer(customer.metering_point_id, customer.credential, found[1].decode())

    gate = asyncio.Semaphore(8)
    return list(
        await asyncio.gather(
            *(
                read(customer, gate) if is_web(index) else _same(customer)
                for index, customer in enumerate(customers)
            )
        )
    )


async def _same(customer: Customer) -> Customer:
    return customer


def run_async(work: Coroutine[Any, Any, T]) -> T:
    """On uvloop when it is installed (as the portal's uvicorn runs): less of the client's CPU."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(work)
    return uvloop.run(work)
