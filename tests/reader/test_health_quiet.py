"""/api/health on a source that is connected but silent: information with the time of its last
frame (a closed HAN port is normal, the reader cannot tell), warnings only for failing sources."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from hanport.reader.energy import LOCAL_TZ
from hanport.reader.pipeline import Hub, SourceStatus
from hanport.reader.storage.database import open_db
from hanport.reader.web import ReaderContext, create_app

NOW = dt.datetime(2026, 12, 5, 10, 0, tzinfo=LOCAL_TZ).timestamp()


def _health(tmp_path: Path, *sources: SourceStatus, lang: str = "en") -> list[dict[str, Any]]:
    hub = Hub()
    hub.sources.extend(sources)
    context = ReaderContext(engine=open_db(str(tmp_path / "h.sqlite3")), hub=hub, clock=lambda: NOW)
    client = TestClient(create_app(context), cookies={"hanport_lang": lang})
    issues: list[dict[str, Any]] = client.get("/api/health").json()["issues"]
    return issues


def test_a_connected_silent_source_is_information_with_its_last_frame_time(tmp_path: Path) -> None:
    quiet = SourceStatus(name="tcp:meter-a:2000", kind="tcp", state="connected")
    quiet.last_frame_at = NOW - 25 * 60  # 09:35 local
    never = SourceStatus(name="tcp:meter-b:2000", kind="tcp", state="connected")
    yesterday = SourceStatus(name="tcp:meter-c:2000", kind="tcp", state="connected")
    yesterday.last_frame_at = NOW - 24 * 3600
    issues = _health(tmp_path, quiet, never, yesterday)
    assert [(i["level"], i["code"]) for i in issues] == [
        ("info", "source_quiet"), ("info", "source_no_data_yet"), ("info", "source_quiet")
    ]  # fmt: skip
    assert issues[0]["message"] == "tcp:meter-a:2000: no data since 09:35 – is the HAN port open?"
    assert issues[1]["message"] == "tcp:meter-b:2000: no data yet – is the HAN port open?"
    assert "since 2026-12-04 10:00 –" in issues[2]["message"]
    nb = _health(tmp_path, quiet, lang="nb")
    assert nb[0]["message"] == "tcp:meter-a:2000: ingen data siden 09:35 – er HAN-porten åpnet?"


def test_failing_sources_stay_errors_and_warnings(tmp_path: Path) -> None:
    refused = SourceStatus(
        name="tcp:meter-a:2000", kind="tcp", state="retrying",
        detail="Connection refused (nytt forsøk om / retry in 2.0 s)",
    )  # fmt: skip
    connecting = SourceStatus(name="tcp:meter-b:2000", kind="tcp", state="connecting")
    fresh = SourceStatus(name="tcp:meter-c:2000", kind="tcp", state="connected")
    fresh.last_frame_at = NOW - 2
    issues = _health(tmp_path, refused, connecting, fresh)
    assert [(i["level"], i["code"]) for i in issues] == [
        ("error", "source_retrying"), ("warning", "source_silent")
    ]  # fmt: skip
