"""`hanport portal --config`: file < HANPORT_PORTAL_* < options; bad values are one line, exit 2."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from portal_world import World

from hanport.cli import main
from hanport.portal.settings import (
    ENV_CONFIG,
    KNOWN_KEYS,
    PickupPlace,
    SettingsError,
    env_var,
    load_settings,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "portal.example.toml"


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "portal.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _dotted(data: dict[str, object], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name not in KNOWN_KEYS:
            keys |= _dotted(value, f"{name}.")
        else:
            keys.add(name)
    return keys


def test_the_example_file_loads_and_shows_every_key() -> None:
    settings = load_settings(config=str(EXAMPLE), environ={})
    assert _dotted(tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))) | {"mail.ca_file"} == set(
        KNOWN_KEYS
    )
    assert settings.company_name == "Fjordnett AS"
    assert settings.sender == "Fjordnett HAN-port <han@fjordnett.example>"
    assert settings.base_url == "https://han.fjordnett.example"
    assert settings.pickup_places[1] == PickupPlace(
        "Fjordnett lager Florø", "Industrivegen 4, 6900 Florø", "tys og tor 10–14"
    )
    customers, staff = settings.customers_oidc, settings.staff_oidc
    assert customers is not None and customers.acr_values == "idporten-loa-substantial"
    assert (customers.store_pid, customers.scope) == (False, "openid profile")
    assert (
        staff is not None and staff.role_claim == "groups" and staff.staff_role == "hanport-staff"
    )


def test_environment_beats_the_file_and_options_beat_both(tmp_path: Path) -> None:
    config = _write(tmp_path, '[http]\nport = 8601\n[mail]\nhost = "file.example"\n')
    environ = {env_var(("http", "port")): "8602", "HANPORT_PORTAL_MAIL_HOST": "env.example"}
    settings = load_settings(config=config, environ=environ)
    assert (settings.http_port, settings.mail_host) == (8602, "env.example")
    settings = load_settings({"http_port": 8603, "mail_host": None}, config=config, environ=environ)
    assert (settings.http_port, settings.mail_host) == (8603, "env.example")


@pytest.mark.parametrize(
    ("flags", "base_url"),
    [
        ({}, "http://127.0.0.1:8600"),
        ({"http_host": "0.0.0.0", "http_port": 8080}, "http://127.0.0.1:8080"),
        ({"http_host": "::1"}, "http://[::1]:8600"),
        ({"http_port": 8080, "base_url": "https://han.example/"}, "https://han.example"),
    ],
)
def test_links_point_where_the_portal_listens_unless_told(
    flags: dict[str, object], base_url: str
) -> None:
    assert load_settings(flags, environ={}).base_url == base_url


def test_the_file_can_come_from_the_environment(tmp_path: Path) -> None:
    config = _write(tmp_path, '[company]\nname = "Vestnett"\n')
    assert load_settings(environ={"HANPORT_PORTAL_CONFIG": config}).company_name == "Vestnett"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[mail]\nhots = 'x'\n", "unknown setting mail.hots"),
        ("[http]\nport = 70000\n", "http.port must be at most 65535"),
        ("[http]\nport = 'web'\n", "http.port: ikke et heltall / not a whole number: 'web'"),
        ("[mail]\nsender_address = 'HAN <han@x.no>'\n", "mail.sender_address: ikke en e-post"),
        ("[mail]\nreply_to = 'kundeservice'\n", "not an e-mail address: 'kundeservice'"),
        ("[mail]\nsecurity = 'ssl'\n", "one of starttls, tls, auto, none"),
        (
            "[mail]\nsecurity = 'none'\nusername = 'u'\npassword = 'p'\n",
            "must be starttls or tls when logging in",
        ),
        ("[company]\nbase_url = 'han.example'\n", "company.base_url: ugyldig adresse"),
        ("[oidc.staff]\nissuer = 'https://login.example'\n", "missing client_id, client_secret"),
        ("[oidc.customers]\nacr = 'low'\n", "one of substantial, high"),
        ("[oidc.customers]\nstore_pid = 'maybe'\n", "store_pid: ugyldig verdi"),
        (
            "[oidc.customers]\nissuer = 'https://idporten.no'\nclient_id = 'c'\n"
            "client_secret = 's'\n",
            "pid_hash_key mangler / is missing",
        ),
        ("[[pickup.places]]\nname = 'Lager'\n", "pickup.places[1].address: 1–200"),
        ("[[pickup.places]]\nname='a'\naddress='b'\nopening_hours='c'\nhours='d'\n", "hours"),
        ("[http\n", "invalid TOML"),
        ("[sla]\nworking_days = 0\n", "sla.working_days must be at least 1 / må være minst 1"),
        ("[sla]\nworking_days = 31\n", "sla.working_days must be at most 30 / kan være høyst 30"),
        ("[sla]\nworking_days = 2.5\n", "sla.working_days: ikke et heltall / not a whole number"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SettingsError, match=None) as raised:
        load_settings(config=_write(tmp_path, text), environ={})
    assert message in str(raised.value)


def test_a_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(environ={"HANPORT_PORTAL_MAIL_PORT": "0"})
    assert str(raised.value).startswith("HANPORT_PORTAL_MAIL_PORT must be at least 1")


@pytest.mark.parametrize(
    ("content", "argv", "message"),
    [
        (b"[company]\nname = '\xe6'\n", [], "not UTF-8 (byte 18)"),
        (b"[mail]\nsender = 'x'\n", [], "unknown setting mail.sender"),
        (b"[http]\nport = -1\n", [], "http.port must be at least 0"),
        (b"[mail]\nsender_address = 'nope'\n", [], "not an e-mail address: 'nope'"),
        (b"", ["--port", "99999"], "--port must be at most 65535"),
        (b"", ["--staff-email", "kundeservice"], "--staff-email: ikke en e-postadresse"),
        (b"", ["--headend", "headend:8700"], "--headend: ugyldig adresse"),
        (b"", ["--sla-working-days", "31"], "--sla-working-days must be at most 30"),
    ],
)
def test_the_command_says_what_is_wrong_in_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes,
    argv: list[str],
    message: str,
) -> None:
    config = tmp_path / "portal.toml"
    config.write_bytes(content)
    db = f"sqlite:///{tmp_path / 'p.db'}"
    assert main(["portal", "--config", str(config), "--db", db, *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "p.db").exists()  # refused before anything is created


def test_the_deadline_in_working_days_is_a_setting(tmp_path: Path) -> None:
    assert load_settings(environ={}).sla_working_days == 3  # the regulator's guideline
    config = _write(tmp_path, "[sla]\nworking_days = 5\n")
    assert load_settings(config=config, environ={}).sla_working_days == 5
    environ = {env_var(("sla", "working_days")): "10"}
    assert load_settings(config=config, environ=environ).sla_working_days == 10
    flags = {"sla_working_days": 2}
    assert load_settings(flags, config=config, environ=environ).sla_working_days == 2


def test_a_missing_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["portal", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "cannot read the configuration" in capsys.readouterr().err


def test_the_workers_take_the_sign_in_limits_from_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_world: World
) -> None:
    from hanport.portal.server import ENV_DB, ENV_SECRET, create_from_environment
    from hanport.portal.services.errors import RateLimited

    config = _write(tmp_path, "[rate_limits]\nsignin_codes_per_address = 1\n")
    monkeypatch.setenv(ENV_CONFIG, config)
    monkeypatch.setenv(ENV_DB, str(sqlite_world.engine.url))
    monkeypatch.setenv(ENV_SECRET, "s" * 32)
    signin = create_from_environment().state.signin
    assert signin.limits.codes_per_address == 1
    signin.start("ola@example.no")
    with pytest.raises(RateLimited):
        signin.start("ola@example.no")
