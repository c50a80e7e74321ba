"""The port service's OpenAPI, fuzzed by schemathesis: no 5xx, every status and body as documented,
every request the schema allows accepted (with a valid API key of a proxy that may act).

Each operation is its own test on a fresh seeded database; the operations that take a body run
on PostgreSQL too, which refuses what SQLite stores (NUL in text: the schema declares that no
free text field takes a control character). (schemathesis' pytest fixture loader
reads a pytest-internal attribute that pytest 9 no longer has, so the operations are listed here
and driven through hypothesis directly, as schemathesis documents for custom runners.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from portal_world import World
from schemathesis import Case, GenerationMode
from schemathesis.checks import CheckContext
from schemathesis.core.failures import Failure
from schemathesis.core.transport import Response
from schemathesis.openapi import from_asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import create_engine

from hanport.portal.db.engine import make_engine
from hanport.portal.services.api_keys import create_token
from hanport.portal.web.app import PortalConfig, create_app

SECRET = "fuzz-secret-" * 3
#: fields whose rules depend on other fields or on the data, which a JSON schema cannot say
#: (to open: the current terms, accepted, a declaration and a module choice; a new customer's
#: name with their address; a move-out date within 90 days): a schema-valid request may be
#: refused on these alone, with 422 and the fields named, never on anything else
RULES_BEYOND_THE_SCHEMA = {
    ("POST", "/api/v1/metering-points/{mpid}/orders"): {
        "terms_version_id", "terms_accepted", "declaration", "module_option", "terms_lang",
        # where the module goes: an address needs all three parts, a place must be configured
        "delivery_street", "delivery_postcode", "delivery_city", "pickup_place",
    },
    ("POST", "/api/v1/metering-points/{mpid}/customer-changes"): {
        "new_customer_name", "new_customer_email", "effective_date",
    },
    # a date the pattern allows, but from today to 90 days ahead only (a rule on the day)
    ("PUT", "/api/v1/metering-points/{mpid}/move-notice"): {"move_out_date"},
}  # fmt: skip


def _accepted_unless_a_rule_says_no(ctx: CheckContext, response: Response, case: Case) -> None:
    """schemathesis' positive-data check, but a 422 naming only fields of RULES_BEYOND_THE_SCHEMA
    is a refusal by those rules, not a rejected schema-valid request."""
    try:
        positive_data_acceptance(ctx, response, case)
    except Failure:
        ruled = RULES_BEYOND_THE_SCHEMA.get((case.method.upper(), case.operation.path), set())
        fields = set(response.json()["error"]["fields"]) if response.status_code == 422 else {""}
        if not (fields and fields <= ruled):
            raise


def _operations(with_body: bool = False) -> list[tuple[str, str, GenerationMode]]:
    """Every operation with valid data, and with invalid data where it takes any input (the
    API key is the test's own, so a key-only operation has nothing to get wrong);
    `with_body`: only those that take a request body."""
    # the schema alone: building the app touches no database
    app = create_app(PortalConfig(engine=create_engine("sqlite://"), secret_key=SECRET))
    operations = []
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            takes_input = "requestBody" in operation or any(
                p["in"] != "header" for p in operation.get("parameters", [])
            )
            if with_body and "requestBody" not in operation:
                continue
            modes = list(GenerationMode) if takes_input else [GenerationMode.POSITIVE]
            operations += [(method.upper(), path, mode) for mode in modes]
    return operations


@pytest.mark.parametrize(("method", "path", "mode"), _operations())
def test_the_api_keeps_its_schema(
    world: World, method: str, path: str, mode: GenerationMode
) -> None:
    _fuzz(world, method, path, mode)


@pytest.fixture
def postgres_world(postgres_server, postgres_template) -> Iterator[World]:  # type: ignore[no-untyped-def]
    """The seeded world in a fresh PostgreSQL database (conftest's template)."""
    url = postgres_server.create_database(template=postgres_template.url)
    engine = make_engine(url)
    try:
        yield replace(postgres_template.world, engine=engine)
    finally:
        engine.dispose()
        postgres_server.drop_database(url)


@pytest.mark.postgres
@pytest.mark.parametrize(("method", "path", "mode"), _operations(with_body=True))
def test_the_bodies_keep_their_schema_on_postgresql(
    postgres_world: World, method: str, path: str, mode: GenerationMode
) -> None:
    _fuzz(postgres_world, method, path, mode)


def _fuzz(world: World, method: str, path: str, mode: GenerationMode) -> None:
    app = create_app(PortalConfig(engine=world.engine, secret_key=SECRET))
    operation = from_asgi("/api/openapi.json", app)[path][method]
    assert world.act_proxy.party_id is not None
    key = create_token(world.engine, world.act_proxy.party_id, "fuzz")
    # random identifiers name nothing: half the cases use the seeded point and its first order,
    # so the paths that place, show and cancel orders are fuzzed too
    known = {"mpid": world.mpid, "order_id": 1}
    in_path = {name: value for name, value in known.items() if "{" + name + "}" in path}
    cases = operation.as_strategy(mode)
    if in_path and mode is GenerationMode.POSITIVE:
        cases = st.one_of(cases, operation.as_strategy(mode, path_parameters=in_path))

    @given(case=cases)
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    def the_answer_keeps_the_schema(case: Case) -> None:
        case.call_and_validate(
            headers={"Authorization": f"Bearer {key}"},
            excluded_checks=[positive_data_acceptance],
            additional_checks=[_accepted_unless_a_rule_says_no],
        )

    the_answer_keeps_the_schema()
