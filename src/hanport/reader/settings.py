"""Reader settings: defaults < TOML file < environment (HANPORT_*) < command-line flags.

Read once at start. The TOML file is ``--config PATH``, ``$HANPORT_CONFIG`` or
``$XDG_CONFIG_HOME/hanport/reader.toml`` when it exists. Example::

    db = "postgresql://hanport@localhost/hanport"
    [http]
    host = "0.0.0.0"
    port = 8080
    [serial]
    ports = ["/dev/ttyUSB0"]
    settings = "auto"          # or kamstrup / aidon / kaifa / sweden / 2400-8E1
    [mqtt]
    host = "localhost"
    discovery_prefix = "homeassistant"
    [retention]
    raw_frames_days = 7
    readings_days = 184
    [tariff]
    steps = [[0, 2, 275], [2, 5, 375], [5, 10, 450]]   # from_kw, to_kw (or "inf"), NOK/month
    company = "bkk-2024"       # a shipped tariff (hanport.reader.tariffs): cost per hour/day/month;
                               # its capacity steps (with VAT) replace the default ones unless
                               # steps are given here
    norgespris = false
    [fuse]
    amps = 63                  # main fuse per phase: Now shows each phase's headroom
    warn_share = 0.9           # warn when a phase stays above 90 % …
    warn_after_s = 60          # … for a minute
    [backup]
    dir = "/var/backups/hanport"   # scheduled backups (hanport backup format)
    time = "03:00"
    interval_h = 24
    keep = 7
    [keys]
    guek = "000102…"           # for encrypted meters
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from itertools import pairwise
from pathlib import Path
from typing import Any

from hanport.reader.energy import DEFAULT_CAPACITY_STEPS, CapacityStep, DatedSteps

__all__ = ["ENV_VARS", "ReaderSettings", "SettingsError", "load_settings"]


class SettingsError(ValueError):
    """A configuration value that cannot work (message in bokmål and English)."""


@dataclass(slots=True)
class ReaderSettings:
    db: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    serve_http: bool = True
    serial: list[str] = field(default_factory=list)
    serial_settings: str = "auto"
    tcp: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    replay_speed: float | None = None  # None: as fast as possible
    mqtt_source: str | None = None  # topic filter for raw frames, e.g. hanport/raw/#
    mqtt_source_client_id: str | None = None  # a durable session, acked after the commit
    mqtt_host: str | None = None
    mqtt_port: int = 1883
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    mqtt_base_topic: str = "hanport"
    mqtt_discovery_prefix: str = "homeassistant"
    mqtt_discovery: bool = True
    mqtt_publish: bool = True
    mqtt_client_id: str = "hanport-reader"
    language: str = "nb"
    store_raw_frames: bool = True
    flush_interval_s: float = 0.5
    raw_frames_days: float = 7
    readings_days: float = 184
    guek: str | None = None
    gak: str | None = None
    tariff_steps: tuple[CapacityStep, ...] = DEFAULT_CAPACITY_STEPS
    # the company tariff's steps (with VAT) per price list, oldest first; tariff_steps is the
    # latest. Empty with `[tariff] steps` or no company: tariff_steps at every date.
    tariff_step_periods: DatedSteps = ()
    tariff_company: str | None = None  # a tariff file's name, e.g. "bkk-2024" (cost figures)
    tariff_norgespris: bool = False  # the household chose Norgespris instead of strømstøtte
    tariff_holiday_home: bool = False  # Norgespris's lower monthly cap
    tariff_vat_percent: float | None = None  # overrides the zone's VAT (e.g. 0 in Nord-Norge)
    load_shed_webhook: str | None = None  # URL POSTed each change of "reduce load now"
    load_shed_webhook_timeout_s: float = 5.0
    prices_zone: str | None = None  # bidding zone (NO1…NO5, SE1…SE4, DK1, DK2, FI); None: off
    prices_entsoe_token: str | None = None
    prices_entsoe_url: str = "https://web-api.tp.entsoe.eu/api"
    prices_norges_bank_url: str = "https://data.norges-bank.no/api/data/EXR/B.EUR.NOK.SP"
    fuse_amps: float | None = None  # the main fuse's rating per phase; None: no headroom shown
    fuse_warn_share: float = 0.9  # warn when a phase stays above this share of the rating …
    fuse_warn_after_s: float = 60.0  # … for this long (a start-up spike is no warning)
    backup_dir: str | None = None  # scheduled backups go here; None: none are taken
    backup_time: str = "03:00"  # local time of day of the first backup
    backup_interval_h: float = 24.0
    backup_keep: int = 7  # the newest this many backups are kept, older ones deleted


#: TOML (section, key) → setting
_TOML_KEYS: dict[tuple[str, ...], str] = {
    ("db",): "db",
    ("http", "host"): "http_host",
    ("http", "port"): "http_port",
    ("http", "enabled"): "serve_http",
    ("serial", "ports"): "serial",
    ("serial", "settings"): "serial_settings",
    ("tcp", "hosts"): "tcp",
    ("mqtt", "host"): "mqtt_host",
    ("mqtt", "port"): "mqtt_port",
    ("mqtt", "username"): "mqtt_username",
    ("mqtt", "password"): "mqtt_password",
    ("mqtt", "base_topic"): "mqtt_base_topic",
    ("mqtt", "discovery_prefix"): "mqtt_discovery_prefix",
    ("mqtt", "discovery"): "mqtt_discovery",
    ("mqtt", "publish"): "mqtt_publish",
    ("mqtt", "client_id"): "mqtt_client_id",
    ("mqtt", "raw_topic"): "mqtt_source",
    ("mqtt", "raw_client_id"): "mqtt_source_client_id",
    ("storage", "raw_frames"): "store_raw_frames",
    ("storage", "flush_interval_s"): "flush_interval_s",
    ("retention", "raw_frames_days"): "raw_frames_days",
    ("retention", "readings_days"): "readings_days",
    ("keys", "guek"): "guek",
    ("keys", "gak"): "gak",
    ("tariff", "steps"): "tariff_steps",
    ("tariff", "company"): "tariff_company",
    ("tariff", "norgespris"): "tariff_norgespris",
    ("tariff", "holiday_home"): "tariff_holiday_home",
    ("tariff", "vat_percent"): "tariff_vat_percent",
    ("load_shed", "webhook"): "load_shed_webhook",
    ("load_shed", "webhook_timeout_s"): "load_shed_webhook_timeout_s",
    ("prices", "zone"): "prices_zone",
    ("prices", "entsoe_token"): "prices_entsoe_token",
    ("prices", "entsoe_url"): "prices_entsoe_url",
    ("prices", "norges_bank_url"): "prices_norges_bank_url",
    ("fuse", "amps"): "fuse_amps",
    ("fuse", "warn_share"): "fuse_warn_share",
    ("fuse", "warn_after_s"): "fuse_warn_after_s",
    ("backup", "dir"): "backup_dir",
    ("backup", "time"): "backup_time",
    ("backup", "interval_h"): "backup_interval_h",
    ("backup", "keep"): "backup_keep",
    ("language",): "language",
}

#: environment variable → setting
ENV_VARS: dict[str, str] = {
    "HANPORT_DB": "db",
    "HANPORT_HTTP_HOST": "http_host",
    "HANPORT_HTTP_PORT": "http_port",
    "HANPORT_SERIAL": "serial",
    "HANPORT_SERIAL_SETTINGS": "serial_settings",
    "HANPORT_MQTT_HOST": "mqtt_host",
    "HANPORT_MQTT_PORT": "mqtt_port",
    "HANPORT_MQTT_USERNAME": "mqtt_username",
    "HANPORT_MQTT_PASSWORD": "mqtt_password",
    "HANPORT_MQTT_DISCOVERY_PREFIX": "mqtt_discovery_prefix",
    "HANPORT_MQTT_RAW_TOPIC": "mqtt_source",
    "HANPORT_MQTT_RAW_CLIENT_ID": "mqtt_source_client_id",
    "HANPORT_GUEK": "guek",
    "HANPORT_GAK": "gak",
    "HANPORT_LANGUAGE": "language",
    "HANPORT_LOAD_SHED_WEBHOOK": "load_shed_webhook",
    "HANPORT_TARIFF_COMPANY": "tariff_company",
    "HANPORT_PRICES_ZONE": "prices_zone",
    "HANPORT_ENTSOE_TOKEN": "prices_entsoe_token",
    "HANPORT_ENTSOE_URL": "prices_entsoe_url",
    "HANPORT_NORGES_BANK_URL": "prices_norges_bank_url",
}


def _steps(value: Any) -> tuple[CapacityStep, ...]:
    try:
        steps = tuple(
            CapacityStep(
                float(row[0]),
                None if row[1] in (None, "inf", "") else float(row[1]),
                float(row[2]),
            )
            for row in value
        )
    except (TypeError, ValueError, IndexError):
        raise SettingsError(
            "tariff.steps må være [[fra_kW, til_kW, NOK], …] / must be [[from_kw, to_kw, nok], …]"
        ) from None
    if not steps or steps[0].from_kw != 0:
        raise SettingsError("tariff.steps må starte på 0 kW / must start at 0 kW")
    for a, b in pairwise(steps):
        if a.to_kw != b.from_kw:
            raise SettingsError(
                f"tariff.steps har hull / has a gap between {a.to_kw} and {b.from_kw} kW"
            )
    return steps


def _coerce(name: str, value: Any) -> Any:
    kinds = {f.name: f.type for f in fields(ReaderSettings)}
    kind = str(kinds[name])
    try:
        if name == "tariff_steps":
            return _steps(value)
        if kind.startswith("list"):
            if isinstance(value, str):
                return [v.strip() for v in value.split(",") if v.strip()]
            return [str(v) for v in value]
        if kind == "int":
            return int(value)
        if kind.startswith("float"):
            return None if value is None else float(value)
        if kind == "bool":
            if isinstance(value, str):
                return value.strip().lower() in {"1", "true", "yes", "ja", "on"}
            return bool(value)
    except SettingsError:
        raise
    except (TypeError, ValueError):
        raise SettingsError(f"ugyldig verdi / invalid value for {name}: {value!r}") from None
    return value


def _unknown_keys(data: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[str]:
    """Dotted names in a configuration file that no setting reads (a typo is not ignored)."""
    unknown = []
    for key, value in data.items():
        path = (*prefix, key)
        if path in _TOML_KEYS:
            continue
        section = any(known[: len(path)] == path for known in _TOML_KEYS)
        if section and isinstance(value, dict):
            unknown += _unknown_keys(value, path)
        else:
            unknown.append(".".join(path))
    return unknown


#: setting → (least, most) it may be; a port of 0 lets the system pick a free one for HTTP
_RANGES: dict[str, tuple[float, float]] = {
    "http_port": (0, 65535),
    "mqtt_port": (1, 65535),
    "raw_frames_days": (0, float("inf")),
    "readings_days": (0, float("inf")),
    "flush_interval_s": (0.01, 60),
    "load_shed_webhook_timeout_s": (0.1, 120),
    "fuse_warn_share": (0.1, 1.0),
    "fuse_warn_after_s": (0, 3600),
    "backup_interval_h": (0.25, 24 * 31),
    "backup_keep": (1, 1000),
}


def _check_ranges(settings: ReaderSettings) -> None:
    _check_prices(settings)
    _check_fuse_and_backup(settings)
    for name, (least, most) in _RANGES.items():
        value = getattr(settings, name)
        if not least <= value <= most:
            shown = f"{least:g}–{most:g}" if most != float("inf") else f">= {least:g}"
            raise SettingsError(
                f"ugyldig verdi / invalid value for {name}: {value!r} (must be {shown})"
            )


def _check_fuse_and_backup(settings: ReaderSettings) -> None:
    amps = settings.fuse_amps
    if amps is not None and not 1 <= amps <= 4000:
        raise SettingsError(f"ugyldig verdi / invalid value for fuse.amps: {amps!r} (1–4000 A)")
    settings.backup_time = str(settings.backup_time).strip()
    hhmm = settings.backup_time.split(":")
    if not (
        len(hhmm) == 2
        and all(part.isdigit() and len(part) == 2 for part in hhmm)
        and int(hhmm[0]) < 24
        and int(hhmm[1]) < 60
    ):
        raise SettingsError(
            f"ugyldig verdi / invalid value for backup.time: {settings.backup_time!r} (HH:MM)"
        )


def _check_prices(settings: ReaderSettings) -> None:
    from hanport.reader.prices.entsoe import ZONES

    if settings.prices_zone is None:
        return
    settings.prices_zone = settings.prices_zone.strip().upper()
    if settings.prices_zone not in ZONES:
        raise SettingsError(
            f"ukjent prisområde / unknown bidding zone prices.zone={settings.prices_zone!r}"
            f" (known: {', '.join(ZONES)})"
        )
    if not settings.prices_entsoe_token:
        raise SettingsError("prices.zone krever / needs prices.entsoe_token (ENTSO-E API token)")


def _read_config(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(
            f"kan ikke lese konfigurasjonen / cannot read the configuration {path}: {exc.strerror}"
        ) from None
    except UnicodeDecodeError as exc:
        raise SettingsError(
            f"{path}: ikke UTF-8 / not UTF-8 (byte {exc.start}); save the file as UTF-8"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: ugyldig TOML / invalid TOML: {exc}") from None
    unknown = _unknown_keys(data)
    if unknown:
        raise SettingsError(
            f"{path}: ukjent innstilling / unknown setting {', '.join(unknown)} (known: "
            + ", ".join(sorted(".".join(k) for k in _TOML_KEYS))
            + ")"
        )
    return data


def _company_steps(settings: ReaderSettings, *, explicit_steps: bool) -> None:
    """Check ``tariff.company`` and, unless ``tariff.steps`` is given, take its capacity steps
    (the files hold prices without VAT; the steps are what the household pays, with the zone's
    VAT or ``tariff.vat_percent``). A tariff priced per kW (Swedish) has no steps: the default
    steps stay."""
    from hanport.reader.tariffs.public import norway
    from hanport.reader.tariffs.registry import TariffError, load

    try:
        tariff = load(str(settings.tariff_company))
    except TariffError as exc:
        raise SettingsError(f"tariff.company: {exc}") from None
    if explicit_steps or not tariff.steps:
        return
    if settings.tariff_vat_percent is not None:
        vat = settings.tariff_vat_percent / 100
    else:
        vat = norway().vat(settings.prices_zone or "")
    settings.tariff_step_periods = tuple(
        (
            p.valid_from,
            tuple(
                CapacityStep(s.from_kw, s.to_kw, round(s.price_nok * (1 + vat), 2)) for s in p.steps
            ),
        )
        for p in tariff.periods
    )
    settings.tariff_steps = settings.tariff_step_periods[-1][1]


def _config_path(explicit: str | None, environ: Mapping[str, str]) -> Path | None:
    if explicit:
        return Path(explicit)
    if environ.get("HANPORT_CONFIG"):
        return Path(environ["HANPORT_CONFIG"])
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    candidate = Path(base) / "hanport" / "reader.toml"
    return candidate if candidate.exists() else None


def load_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    config: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> ReaderSettings:
    """Merge the layers; ``flags`` holds only the options given on the command line."""
    environ = os.environ if environ is None else environ
    settings = ReaderSettings()
    given: set[str] = set()  # the settings some layer set (not left at their default)
    path = _config_path(config, environ)
    if path is not None:
        data = _read_config(path)
        for keys, name in _TOML_KEYS.items():
            node: Any = data
            for key in keys:
                node = node.get(key) if isinstance(node, dict) else None
            if node is not None:
                setattr(settings, name, _coerce(name, node))
                given.add(name)
    for var, name in ENV_VARS.items():
        if environ.get(var):
            setattr(settings, name, _coerce(name, environ[var]))
            given.add(name)
    for name, value in (flags or {}).items():
        if value is not None:
            setattr(settings, name, _coerce(name, value))
            given.add(name)
    _check_ranges(settings)
    if settings.load_shed_webhook and not settings.load_shed_webhook.startswith(
        ("http://", "https://")
    ):
        raise SettingsError(
            "load_shed.webhook må være en http(s)-URL / must be an http(s) URL: "
            f"{settings.load_shed_webhook!r}"
        )
    vat = settings.tariff_vat_percent
    if vat is not None and not 0 <= vat <= 100:
        raise SettingsError(
            f"ugyldig verdi / invalid value for tariff.vat_percent: {vat!r} (0–100)"
        )
    if settings.tariff_company is not None:
        _company_steps(settings, explicit_steps="tariff_steps" in given)
    if settings.language not in ("nb", "en"):
        raise SettingsError("language må være nb eller en / must be nb or en")
    return settings
