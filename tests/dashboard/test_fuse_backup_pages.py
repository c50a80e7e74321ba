"""Now shows each phase against the main fuse; Health shows the scheduled backups (the stack's
reader runs with ``[fuse] amps = 63`` and a ``[backup] dir``)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from .stack import Stack

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

READY = "body[data-ready=true]"


def test_now_shows_each_phase_against_the_main_fuse(page: Page, stack: Stack) -> None:
    page.goto(f"{stack.url}/?meter={stack.live_meter_id}")
    page.wait_for_selector(READY)
    page.wait_for_selector("#fuse-card", state="visible", timeout=30_000)
    assert "63" in (page.text_content("#fuse-amps") or "")
    (now,) = httpx.get(f"{stack.url}/api/now", params={"meter_id": stack.live_meter_id}).json()
    fuse = now["fuse"]
    assert fuse["amps"] == 63 and fuse["warning"] is False  # the emulator's house is far below
    shown = page.eval_on_selector_all(
        "#fuse-rows tr:not([hidden])", "rows => rows.map(r => r.dataset.phase)"
    )
    assert shown == [p["phase"] for p in fuse["phases"]]
    assert page.is_hidden("#fuse-warning")
    percent = page.text_content('#fuse-rows tr[data-phase="L1"] .pct span') or ""
    assert percent.endswith("%")


def test_health_shows_the_backup_schedule(page: Page, stack: Stack) -> None:
    page.goto(f"{stack.url}/health")
    page.wait_for_selector(READY)
    page.wait_for_selector("#backup-details", state="visible", timeout=30_000)
    health = httpx.get(f"{stack.url}/api/health").json()
    assert health["backup"]["enabled"] is True and health["backup"]["last"] is None
    assert page.is_hidden("#backup-off")
    assert (page.text_content("#backup-next") or "").startswith(health["backup"]["next_at"][:10])


def test_history_month_shows_the_check_against_the_grid_company(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    from hanport.cli import main

    rows = stack.api("/api/hours", meter_id=stack.history_meter_id, **{"from": "2000-01-01"},
                     to="2100-01-01")  # fmt: skip
    assert rows, "the backfilled meter has booked hours"
    lines = ["Fra;Til;kWh"]
    for i, row in enumerate(rows):
        start = datetime.fromisoformat(row["start"]).strftime("%d.%m.%Y %H:%M")
        kwh = row["active_energy_import_kwh"] + (0.5 if i == 1 else 0)  # one hour differs
        value = f"{kwh:.3f}".replace(".", ",")  # decimal commas, as grid companies write
        lines.append(f"{start};;{value}")
    official = tmp_path / "official.csv"
    official.write_bytes("\n".join(lines).encode("cp1252"))
    args = ["reconcile", str(official), "--db", stack.db_url, "--meter-id", stack.history_meter_id]
    assert main(args) == 1
    day = rows[1]["start"][:10]
    page.goto(f"{stack.url}/history?view=month&date={day}&meter={stack.history_meter_id}")
    page.wait_for_selector(READY)
    page.wait_for_selector("#reconcile-details", state="visible", timeout=30_000)
    month_hours = [r for r in rows if r["start"][:7] == day[:7]]
    summary = page.text_content("#reconcile-summary") or ""
    assert str(len(month_hours)) in summary and " 1 " in summary
    assert page.eval_on_selector_all("#reconcile-rows tr", "rows => rows.length") == 1
