"""The shared service fixtures work: each one is used the way the part tests will use it."""

from __future__ import annotations

import asyncio
import smtplib
import socket
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiomqtt
import aiosmtplib
import psycopg
import pytest
import sqlalchemy as sa

from services.browser import SCREENSHOT_DIR, ConsoleErrors, screenshot
from services.mosquitto import MqttAddress
from services.ports import free_port, port_accepts
from services.postgres import PostgresServer, libpq_url, sqlalchemy_url
from services.processes import missing
from services.smtp import SmtpCatcher


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
    assert 1024 <= port <= 65535


async def test_mosquitto_delivers_a_published_message(mosquitto: MqttAddress) -> None:
    host, port = mosquitto
    assert port_accepts(host, port)
    async with aiomqtt.Client(host, port, identifier="sub") as subscriber:
        await subscriber.subscribe("hanport/raw/#", qos=1)
        async with aiomqtt.Client(host, port, identifier="pub") as publisher:
            await publisher.publish("hanport/raw/meter-1", b"\x7e\xa0\x7e", qos=1)
        async with asyncio.timeout(5):
            message = await anext(aiter(subscriber.messages))
    assert str(message.topic) == "hanport/raw/meter-1"
    assert message.payload == b"\x7e\xa0\x7e"


def test_postgres_url_is_a_fresh_database(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+psycopg://")
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            assert sa.inspect(conn).get_table_names() == []
            conn.execute(sa.text("CREATE TABLE readings (meter_id text, power_w integer)"))
            conn.execute(sa.text("INSERT INTO readings VALUES ('5706567274389702', 1234)"))
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT power_w FROM readings")).scalar_one() == 1234
    finally:
        engine.dispose()


def test_postgres_each_test_gets_its_own_database(
    postgres_url: str, postgres_server: PostgresServer
) -> None:
    with psycopg.connect(libpq_url(postgres_url)) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert tables.fetchone() == (0,)
    # A second database on the same server is independent and is dropped again.
    other = postgres_server.create_database(prefix="other")
    assert other != postgres_url
    postgres_server.drop_database(other)


async def test_postgres_async_engine(postgres_url: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(postgres_url)
    try:
        async with engine.begin() as conn:
            version = (await conn.execute(sa.text("SHOW server_version"))).scalar_one()
    finally:
        await engine.dispose()
    assert int(version.split(".")[0]) >= 13


def test_url_conversions() -> None:
    assert libpq_url("postgresql+psycopg://u@h:1/d") == "postgresql://u@h:1/d"
    assert sqlalchemy_url("postgresql://u@h:1/d") == "postgresql+psycopg://u@h:1/d"


async def test_smtp_server_keeps_a_mail_sent_with_aiosmtplib(smtp_server: SmtpCatcher) -> None:
    mail = EmailMessage()
    mail["From"] = "kundeservice@nett.example"
    mail["To"] = "kari.nordmann@example.no"
    mail["Subject"] = "HAN-porten er åpnet / The HAN port is open"
    mail.set_content("Hei Kari,\nHAN-porten på målepunkt 707057500000000017 er åpnet.\n")
    await aiosmtplib.send(mail, hostname=smtp_server.host, port=smtp_server.port)
    received = await smtp_server.wait_for_async(
        lambda message: "åpnet" in str(message["Subject"]), timeout=5
    )
    assert received["To"] == "kari.nordmann@example.no"
    assert "707057500000000017" in received.get_content()
    assert smtp_server.mails[0].rcpt_tos == ("kari.nordmann@example.no",)


def test_smtp_server_is_empty_per_test_and_wait_for_blocks(smtp_server: SmtpCatcher) -> None:
    assert smtp_server.messages == []
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        client.login("portal", "secret")  # accepted: code under test may be set up with a login
        client.sendmail("a@example.no", ["b@example.no"], b"Subject: test\r\n\r\nbody\r\n")
    assert smtp_server.wait_for(timeout=5)["Subject"] == "test"
    smtp_server.clear()
    assert smtp_server.messages == []
    with pytest.raises(AssertionError, match="no matching e-mail"):
        smtp_server.wait_for(timeout=0.1)


def test_browser_opens_a_data_page(page: Any) -> None:
    page.goto("data:text/html;charset=utf-8,<title>hanport</title><h1>Målerstand</h1>")
    assert page.title() == "hanport"
    assert page.locator("h1").inner_text() == "Målerstand"
    path = screenshot(page, "test services/data page")
    assert path == SCREENSHOT_DIR / "test-services-data-page.png"
    assert path.read_bytes().startswith(b"\x89PNG")


def test_page_collects_console_errors(page: Any, console_errors: ConsoleErrors) -> None:
    page.goto("data:text/html,<script>console.error('boom'); throw new Error('kaboom')</script>")
    page.wait_for_timeout(100)  # the events arrive asynchronously from the browser
    assert any("boom" in message for message in console_errors.messages)
    assert any("kaboom" in message for message in console_errors.messages)
    console_errors.clear()  # expected here; otherwise the page fixture fails the test


def test_han_samples(han_samples_dir: Path, han_samples: list[dict[str, Any]]) -> None:
    assert (han_samples_dir / "kamstrup.json").is_file()
    assert {"kamstrup.json", "aidon.json", "kaifa.json"} <= {s["file"] for s in han_samples}
    assert all("hex" in sample and "id" in sample for sample in han_samples)


def test_missing_service_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        missing("no such service")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        missing("no such service")
