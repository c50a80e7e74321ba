"""The reader's OpenAPI, fuzzed by schemathesis over a database with two days of readings: no 5xx,
every status and body as documented, every request the schema allows accepted.

A date the schema's pattern allows may still name no day (2026-02-30), a `to` may lie before its
`from`, a field may not exist: the reader refuses those with 422 and a sentence saying why
(`{"detail": "…"}`). That is a refusal by a rule, not a rejected schema-valid request; what must
never happen to one is FastAPI's own list-shaped 422, which would mean the schema promised more than
the API takes.

(Each operation drives hypothesis directly: schemathesis' pytest fixture loader reads a pytest
attribute that pytest 9 no longer has.) The live feed (`/api/live`) streams until the client
leaves, so it is left to tests/reader/test_api.py.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from reader_synthetic import pushes
from schemathesis import Case, GenerationMode
from schemathesis.checks import CheckContext
from schemathesis.core.failures import Failure
from schemathesis.core.transport import Response
from schemathesis.openapi import from_asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import create_engine

from hanport.reader.live import LiveState
from hanport.reader.storage.database import open_db
from hanport.reader.storage.writer import Writer
from hanport.reader.web import ReaderContext, create_app

START = 1_770_000_000  # 2026-02-02 02:40 UTC
STREAMS = {"/api/live"}


def _operations() -> list[tuple[str, str, GenerationMode]]:
    app = create_app(ReaderContext(engine=create_engine("sqlite://")))
    operations = []
    for path, item in app.openapi()["paths"].items():
        if path in STREAMS:
            continue
        for method, operation in item.items():
            modes = (
                list(GenerationMode) if operation.get("parameters") else [GenerationMode.POSITIVE]
            )
            operations += [(method.upper(), path, mode) for mode in modes]
    return operations


def _accepted_unless_a_rule_says_no(ctx: CheckContext, response: Response, case: Case) -> None:
    try:
        positive_data_acceptance(ctx, response, case)
    except Failure:
        if not (response.status_code == 422 and isinstance(response.json()["detail"], str)):
            raise


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> ReaderContext:
    engine = open_db(str(tmp_path_factory.mktemp("fuzz") / "reader.sqlite3"))
    writer = Writer(engine)
    last = [START]
    live = LiveState(clock=lambda: last[0] + 5.0)
    for push in pushes(START, 48):
        writer.add(push)
        live.update(push)
        last[0] = push.at
    writer.flush(final=True)
    return ReaderContext(engine=engine, live=live, clock=lambda: last[0] + 5.0)


@pytest.mark.parametrize(("method", "path", "mode"), _operations())
def test_the_api_keeps_its_schema(
    context: ReaderContext, method: str, path: str, mode: GenerationMode
) -> None:
    operation = from_asgi("/api/openapi.json", create_app(context))[path][method]

    @given(case=operation.as_strategy(mode))
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    def the_answer_keeps_the_schema(case: Case) -> None:
        case.call_and_validate(
            excluded_checks=[positive_data_acceptance],
            additional_checks=[_accepted_unless_a_rule_says_no],
        )

    the_answer_keeps_the_schema()
