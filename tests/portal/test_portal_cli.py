"""`hanport portal` options and the demo fleet file the emulator loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from hanport.cli import main
from hanport.emulator.fleet import load_fleet
from hanport.portal.seed import DEMO_METERS


def test_fleet_file_loads_in_the_emulator_with_the_same_ids(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    assert main(["portal", "--fleet-out", str(path)]) == 0
    meters = load_fleet(path)
    assert [(m.meter_id, m.metering_point_id) for m in meters] == [
        (d.meter_id, d.metering_point_id) for d in DEMO_METERS
    ]
    assert [(m.brand, m.phases, m.three_wire, m.prosumer, m.seed) for m in meters] == [
        (d.brand, d.phases, d.three_wire, d.prosumer, d.serial) for d in DEMO_METERS
    ]
    assert {"kamstrup", "aidon", "kaifa"} <= {m.brand for m in meters}
    assert {m.port.value for m in meters} == {"closed"}  # closed until a customer orders


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--smtp", "localhost"], "write HOST:PORT"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--max-attempts", "1"], "--max-attempts must be at least 2"),
    ],
)
def test_bad_options_get_a_clear_message(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'p.db'}"
    try:
        code = main(["portal", "--db", db, *argv])
    except SystemExit as exit_:  # argparse
        code = int(exit_.code or 0)
    assert code == 2
    assert message in capsys.readouterr().err


def test_audit_verify_on_a_database_that_is_not_the_portals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit-verify", "--db", f"sqlite:///{tmp_path / 'other.db'}"]) == 2
    assert "not a port service database" in capsys.readouterr().err


def _portal(tmp_path: Path, *extra: str):  # type: ignore[no-untyped-def]
    import subprocess
    import sys
    import time

    import httpx

    from services.ports import free_port

    port = free_port()
    db = f"sqlite:///{tmp_path / 'p.db'}"
    with (tmp_path / f"portal-{port}.log").open("wb") as log:  # the child keeps its copy
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hanport.cli",
                "portal",
                "--db",
                db,
                "--port",
                str(port),
                *extra,
            ],
            stdout=log,
            stderr=log,
        )
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(f"{base}/signin", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    return child, base


def _codes_until_limited(base: str, count: int) -> list[int]:
    import re

    import httpx

    statuses = []
    with httpx.Client(base_url=base, timeout=10) as client:
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/signin").text)
        assert csrf
        for n in range(count):
            answer = client.post(
                "/signin",
                data={"csrf": csrf.group(1), "email": f"person{n}@example.no"},
                headers={"X-Forwarded-For": f"198.51.100.{n + 1}"},  # one customer each
            )
            statuses.append(answer.status_code)
    return statuses


@pytest.mark.parametrize(("trusted", "limited"), [("127.0.0.1", False), ("10.0.0.9", True)])
def test_customers_behind_a_trusted_proxy_are_limited_one_by_one(
    tmp_path: Path, trusted: str, limited: bool
) -> None:
    from hanport.portal.services.signin import MAX_CODES_PER_CLIENT

    child, base = _portal(tmp_path, "--trusted-proxy", trusted)
    try:
        statuses = _codes_until_limited(base, MAX_CODES_PER_CLIENT + 2)
    finally:
        child.terminate()
        child.wait(timeout=10)
    # through the trusted proxy each customer has their own address; a forwarded header from
    # anyone else is not believed, so the shared address hits the per-client limit
    assert (429 in statuses) is limited, statuses
    assert statuses[:MAX_CODES_PER_CLIENT] == [200] * MAX_CODES_PER_CLIENT
