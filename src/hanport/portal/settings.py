"""Port service settings: defaults < TOML file < environment (HANPORT_PORTAL_*) < flags.

Read once at start, like the reader's. The file is ``--config PATH`` or ``$HANPORT_PORTAL_CONFIG``;
docs/portal.example.toml shows every key. Each key ``[section] name`` has the variable
``HANPORT_PORTAL_SECTION_NAME`` (``[oidc.customers] client_secret`` is
``HANPORT_PORTAL_OIDC_CUSTOMERS_CLIENT_SECRET``); top-level keys drop the section. Pick-up places
are a list of tables (``[[pickup.places]]``, or ``[[pickup_places]]``) and come from the file
only; without any, the demo's places are offered (``places = []`` under ``[pickup]`` offers
none). A key no setting reads, a value of the wrong
kind, a port out of range or an address that is no e-mail address is refused with one line
naming the key.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from hanport.portal.domain.shipments import DEMO_PICKUP_PLACES, PickupPlace
from hanport.portal.domain.sla import REGULATOR_WORKING_DAYS, WORKING_DAYS_RANGE

__all__ = [
    "ENV_CONFIG",
    "KNOWN_KEYS",
    "MailSecurity",
    "OidcClient",
    "PickupPlace",
    "PortalSettings",
    "SettingsError",
    "env_var",
    "load_settings",
]

ENV_CONFIG = "HANPORT_PORTAL_CONFIG"
_ENV_PREFIX = "HANPORT_PORTAL_"

#: starttls: plain connection upgraded by STARTTLS (port 587), refused if the relay cannot;
#: tls: TLS from the first byte (port 465); auto: STARTTLS when offered (no login allowed);
#: none: plain (a local relay or the demo's mailbox only, no login allowed)
MailSecurity = Literal["starttls", "tls", "auto", "none"]
_MAIL_SECURITY = ("starttls", "tls", "auto", "none")
_ACR_LEVELS = ("substantial", "high")
_COOKIE_SECURE = ("always", "auto", "never")
_EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")
_LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


class SettingsError(ValueError):
    """A configuration value that cannot work (message in bokmål and English)."""


@dataclass(frozen=True, slots=True)
class OidcClient:
    """One OpenID Connect client registration (parsed and checked here; the sign-in uses it)."""

    issuer: str
    client_id: str
    client_secret: str
    acr: str = "substantial"  #: customers: the ID-porten level asked for (substantial | high)
    role_claim: str = "groups"  #: staff: the claim holding groups or roles
    staff_role: str = "hanport-staff"  #: staff: the value in it that gives the back office
    pid_hash_key: str = ""  #: customers: key of the stored pid's keyed hash
    store_pid: bool = False  #: customers: keep the number itself (only where the law asks)
    scope: str = "openid profile"

    @property
    def acr_values(self) -> str:
        return f"idporten-loa-{self.acr}"


@dataclass(slots=True)
class PortalSettings:
    db: str | None = None
    headend: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8600
    workers: int = 1
    cookie_secure: str = "auto"
    trusted_proxies: list[str] = field(default_factory=list)
    company_name: str = "Nettselskapet"
    company_signature: str = ""
    #: where people reach the portal, for links in mails and the sign-in's callback; not given:
    #: http://host:port from [http] (127.0.0.1 when it listens on every address)
    base_url: str = ""
    mail_host: str | None = None  #: None: mails are printed on the console (demo)
    mail_port: int = 587
    mail_security: str = "auto"
    mail_username: str | None = None
    mail_password: str | None = None
    mail_ca_file: str | None = None  #: PEM bundle to trust instead of the system's (own CA)
    mail_timeout_s: float = 10.0
    sender_name: str = "HAN-port"
    sender_address: str = "han@nettselskap.example"
    reply_to: str | None = None
    staff_email: str | None = None
    oidc_customers_issuer: str | None = None
    oidc_customers_client_id: str | None = None
    oidc_customers_client_secret: str | None = None
    oidc_customers_acr: str = "substantial"
    oidc_customers_pid_hash_key: str | None = None
    oidc_customers_store_pid: bool = False
    oidc_customers_scope: str = "openid profile"
    oidc_staff_issuer: str | None = None
    oidc_staff_client_id: str | None = None
    oidc_staff_client_secret: str | None = None
    oidc_staff_role_claim: str = "groups"
    oidc_staff_role: str = "hanport-staff"
    #: where a HAN module may be picked up; the demo's places unless the file names its own
    pickup_places: tuple[PickupPlace, ...] = DEMO_PICKUP_PLACES
    retry_base_s: float = 30.0  #: first head-end retry delay; doubles per attempt
    max_attempts: int = 5  #: head-end attempts before a case goes to customer service
    #: an order's deadline, in Norwegian working days from the request (RME's guideline: 3)
    sla_working_days: int = REGULATOR_WORKING_DAYS
    signin_codes_per_address: int = 3  #: per 15 minutes
    signin_codes_per_client: int = 10  #: per 15 minutes, one client for many addresses
    signin_codes_per_address_day: int = 10
    access_request_expire_days: int = 14  #: a provider's unanswered request expires then

    @property
    def sender(self) -> str:
        """The From header: the sender's name and address."""
        from email.headerregistry import Address

        return str(Address(self.sender_name, addr_spec=self.sender_address))

    @property
    def customers_oidc(self) -> OidcClient | None:
        return self._oidc("customers")

    @property
    def staff_oidc(self) -> OidcClient | None:
        return self._oidc("staff")

    def _oidc(self, who: str) -> OidcClient | None:
        issuer = getattr(self, f"oidc_{who}_issuer")
        if issuer is None:
            return None
        if who == "customers":
            extra: dict[str, Any] = {
                "acr": self.oidc_customers_acr,
                "pid_hash_key": self.oidc_customers_pid_hash_key or "",
                "store_pid": self.oidc_customers_store_pid,
                "scope": self.oidc_customers_scope,
            }
        else:
            extra = {"role_claim": self.oidc_staff_role_claim, "staff_role": self.oidc_staff_role}
        return OidcClient(
            issuer=issuer,
            client_id=getattr(self, f"oidc_{who}_client_id"),
            client_secret=getattr(self, f"oidc_{who}_client_secret"),
            **extra,
        )


Parser = Callable[[str, Any], Any]


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise SettingsError(f"{key}: må være tekst / must be text, not {value!r}")
    return value.strip()


def _integer(least: int, most: int) -> Parser:
    def parse(key: str, value: Any) -> int:
        try:
            number = int(value) if not isinstance(value, (bool, float)) else None
        except (TypeError, ValueError):
            number = None
        if number is None:
            raise SettingsError(f"{key}: ikke et heltall / not a whole number: {value!r}")
        if number < least:
            raise SettingsError(f"{key} must be at least {least} / må være minst {least}")
        if number > most:
            raise SettingsError(f"{key} must be at most {most} / kan være høyst {most}")
        return number

    return parse


def _number(least: float, most: float) -> Parser:
    def parse(key: str, value: Any) -> float:
        try:
            number = float(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None or not least <= number <= most:
            raise SettingsError(
                f"{key}: ugyldig verdi / invalid value {value!r} (a number {least:g}–{most:g})"
            )
        return number

    return parse


def _choice(options: tuple[str, ...]) -> Parser:
    def parse(key: str, value: Any) -> str:
        text = _text(key, value).lower()
        if text not in options:
            raise SettingsError(
                f"{key}: ugyldig verdi / invalid value {value!r} (one of {', '.join(options)})"
            )
        return text

    return parse


def _email(key: str, value: Any) -> str:
    text = _text(key, value)
    if len(text) > 254 or not _EMAIL.match(text):
        raise SettingsError(
            f"{key}: ikke en e-postadresse / not an e-mail address: {value!r} "
            "(write name@example.no; the sender's name is sender_name)"
        )
    return text


def _url(key: str, value: Any) -> str:
    text = _text(key, value).rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(
            f"{key}: ugyldig adresse / invalid URL {value!r} (write https://host[/path])"
        )
    return text


def _yes_no(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "ja", "on"):
        return True
    if text in ("0", "false", "no", "nei", "off"):
        return False
    raise SettingsError(f"{key}: ugyldig verdi / invalid value {value!r} (true or false)")


def _secret(key: str, value: Any) -> str:
    text = _text(key, value)
    if len(text) < 16:
        raise SettingsError(f"{key}: for kort / too short (at least 16 characters)")
    return text


def _host_list(key: str, value: Any) -> list[str]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        raise SettingsError(f"{key}: må være en liste / must be a list of addresses")
    return [_text(key, item) for item in items if str(item).strip()]


_PLACE_PARTS = ("name", "address", "opening_hours")
_HOURS_LANGS = ("nb", "nn", "en")


def _place_text(key: str, value: Any) -> str:
    text = _text(key, value)
    if not text or len(text) > 200:
        raise SettingsError(f"{key}: 1–200 tegn / 1–200 characters")
    return text


def _opening_hours(key: str, value: Any) -> dict[str, str]:
    """One text for every language ("08–16"), or a table of nb and en (nn falls back to nb)."""
    if not isinstance(value, dict):
        return {"nb": _place_text(key, value)}
    unknown = set(value) - set(_HOURS_LANGS)
    if unknown:
        raise SettingsError(
            f"{key}: ukjent språk / unknown language {', '.join(sorted(unknown))} "
            "(known: nb, nn, en)"
        )
    missing = [lang for lang in ("nb", "en") if lang not in value]
    if missing:
        raise SettingsError(
            f"{key}.{missing[0]} mangler / is missing (give nb and en, or one text for all)"
        )
    return {lang: _place_text(f"{key}.{lang}", value[lang]) for lang in value}


def _pickup_place(where: str, entry: Any) -> PickupPlace:
    if not isinstance(entry, dict):
        raise SettingsError(f"{where}: må være en tabell / must be a table")
    unknown = set(entry) - set(_PLACE_PARTS)
    if unknown:
        raise SettingsError(
            f"{where}: ukjent innstilling / unknown setting {', '.join(sorted(unknown))} "
            "(known: name, address, opening_hours)"
        )
    name = _place_text(f"{where}.name", entry.get("name", ""))
    address = _place_text(f"{where}.address", entry.get("address", ""))
    hours = _opening_hours(f"{where}.opening_hours", entry.get("opening_hours", ""))
    place = PickupPlace(name, address, hours["nb"], hours.get("nn", ""), hours.get("en", ""))
    if not place.key:
        raise SettingsError(
            f"{where}.name: trenger bokstaver eller sifre / needs letters or digits"
        )
    return place


def _pickup_places(key: str, value: Any) -> tuple[PickupPlace, ...]:
    if not isinstance(value, list):
        raise SettingsError(f"{key}: må være [[pickup.places]] / must be [[pickup.places]] tables")
    places = tuple(
        _pickup_place(f"{key}[{number}]", entry) for number, entry in enumerate(value, start=1)
    )
    keys = [place.key for place in places]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise SettingsError(
            f"{key}: samme navn to ganger / the same name twice ({', '.join(twice)}): each "
            "place needs a name of its own"
        )
    return places


#: (TOML path, setting, parser); the environment variable is derived from the path
_KEYS: tuple[tuple[tuple[str, ...], str, Parser], ...] = (
    (("db",), "db", _text),
    (("headend",), "headend", _url),
    (("http", "host"), "http_host", _text),
    (("http", "port"), "http_port", _integer(0, 65535)),
    (("http", "workers"), "workers", _integer(1, 64)),
    (("http", "cookie_secure"), "cookie_secure", _choice(_COOKIE_SECURE)),
    (("http", "trusted_proxies"), "trusted_proxies", _host_list),
    (("company", "name"), "company_name", _text),
    (("company", "signature"), "company_signature", _text),
    (("company", "base_url"), "base_url", _url),
    (("mail", "host"), "mail_host", _text),
    (("mail", "port"), "mail_port", _integer(1, 65535)),
    (("mail", "security"), "mail_security", _choice(_MAIL_SECURITY)),
    (("mail", "username"), "mail_username", _text),
    (("mail", "password"), "mail_password", _text),
    (("mail", "ca_file"), "mail_ca_file", _text),
    (("mail", "timeout_s"), "mail_timeout_s", _number(0.5, 300)),
    (("mail", "sender_name"), "sender_name", _text),
    (("mail", "sender_address"), "sender_address", _email),
    (("mail", "reply_to"), "reply_to", _email),
    (("mail", "staff_address"), "staff_email", _email),
    (("oidc", "customers", "issuer"), "oidc_customers_issuer", _url),
    (("oidc", "customers", "client_id"), "oidc_customers_client_id", _text),
    (("oidc", "customers", "client_secret"), "oidc_customers_client_secret", _text),
    (("oidc", "customers", "acr"), "oidc_customers_acr", _choice(_ACR_LEVELS)),
    (("oidc", "customers", "pid_hash_key"), "oidc_customers_pid_hash_key", _secret),
    (("oidc", "customers", "store_pid"), "oidc_customers_store_pid", _yes_no),
    (("oidc", "customers", "scope"), "oidc_customers_scope", _text),
    (("oidc", "staff", "issuer"), "oidc_staff_issuer", _url),
    (("oidc", "staff", "client_id"), "oidc_staff_client_id", _text),
    (("oidc", "staff", "client_secret"), "oidc_staff_client_secret", _text),
    (("oidc", "staff", "role_claim"), "oidc_staff_role_claim", _text),
    (("oidc", "staff", "role"), "oidc_staff_role", _text),
    (("pickup", "places"), "pickup_places", _pickup_places),
    (("sla", "retry_base_s"), "retry_base_s", _number(0.1, 3600)),
    (("sla", "max_attempts"), "max_attempts", _integer(2, 100)),
    (("sla", "working_days"), "sla_working_days", _integer(*WORKING_DAYS_RANGE)),
    (("rate_limits", "signin_codes_per_address"), "signin_codes_per_address", _integer(1, 100)),
    (("rate_limits", "signin_codes_per_client"), "signin_codes_per_client", _integer(1, 10000)),
    (
        ("rate_limits", "signin_codes_per_address_day"),
        "signin_codes_per_address_day",
        _integer(1, 1000),
    ),
    (("providers", "request_expire_days"), "access_request_expire_days", _integer(1, 90)),
)
_BY_NAME = {name: (path, parse) for path, name, parse in _KEYS}
#: the command-line option of a setting, where it is not --name-with-dashes (for messages)
_FLAGS = {
    "http_host": "--host",
    "http_port": "--port",
    "trusted_proxies": "--trusted-proxy",
    "retry_base_s": "--retry-base",
    "sla_working_days": "--sla-working-days",
    "mail_host": "--smtp",
    "mail_port": "--smtp",
}
_FILE_ONLY = {"pickup_places"}
#: every key the file may hold, dotted (mail.sender_address)
KNOWN_KEYS = tuple(".".join(path) for path, _, _ in _KEYS)


def env_var(path: tuple[str, ...]) -> str:
    """The environment variable of a TOML key: HANPORT_PORTAL_MAIL_PASSWORD for mail.password."""
    return _ENV_PREFIX + "_".join(path).upper()


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path)


def _unknown_keys(data: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[str]:
    """Dotted names in the file that no setting reads (a typo is not ignored)."""
    unknown = []
    known = [path for path, _, _ in _KEYS]
    for key, value in data.items():
        path = (*prefix, key)
        if path in known:
            continue
        section = any(k[: len(path)] == path and len(k) > len(path) for k in known)
        if section and isinstance(value, dict):
            unknown += _unknown_keys(value, path)
        else:
            unknown.append(_dotted(path))
    return unknown


def _read_config(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(
            f"kan ikke lese konfigurasjonen / cannot read the configuration {path}: "
            f"{exc.strerror or exc}"
        ) from None
    except UnicodeDecodeError as exc:
        raise SettingsError(
            f"{path}: ikke UTF-8 / not UTF-8 (byte {exc.start}); save the file as UTF-8"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: ugyldig TOML / invalid TOML: {exc}") from None
    if "pickup_places" in data:
        # [[pickup_places]] is [[pickup.places]] written at the top level
        pickup = data.get("pickup")
        if isinstance(pickup, dict) and "places" in pickup:
            raise SettingsError(f"{path}: pickup_places og/and pickup.places: give the places once")
        data = {**data, "pickup": {**(pickup or {}), "places": data["pickup_places"]}}
        del data["pickup_places"]
    unknown = _unknown_keys(data)
    if unknown:
        raise SettingsError(
            f"{path}: ukjent innstilling / unknown setting {', '.join(unknown)} "
            "(see docs/portal.example.toml)"
        )
    return data


def _from_file(settings: PortalSettings, data: dict[str, Any], source: Path) -> None:
    for path, name, parse in _KEYS:
        node: Any = data
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            setattr(settings, name, parse(f"{source}: {_dotted(path)}", node))


def _check_together(settings: PortalSettings) -> None:
    """Settings that only work in pairs: a login needs TLS, a client needs its issuer."""
    if settings.mail_username and not settings.mail_password:
        raise SettingsError("mail.password mangler / is missing (mail.username is set)")
    if settings.mail_password and settings.mail_security not in ("starttls", "tls"):
        raise SettingsError(
            "mail.security må være starttls eller tls med innlogging / must be starttls or tls "
            "when logging in (the password would cross the network in clear)"
        )
    if settings.mail_ca_file and not Path(settings.mail_ca_file).is_file():
        raise SettingsError(f"mail.ca_file: finnes ikke / no such file {settings.mail_ca_file}")
    for who in ("customers", "staff"):
        given = [
            part
            for part in ("issuer", "client_id", "client_secret")
            if getattr(settings, f"oidc_{who}_{part}")
        ]
        if given and len(given) < 3:
            missing = sorted({"issuer", "client_id", "client_secret"} - set(given))
            raise SettingsError(
                f"oidc.{who}: mangler / is missing {', '.join(missing)} (given: {', '.join(given)})"
            )
    if settings.oidc_customers_issuer and not settings.oidc_customers_pid_hash_key:
        raise SettingsError(
            "oidc.customers.pid_hash_key mangler / is missing (the key of the stored pid's hash)"
        )


def load_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    config: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> PortalSettings:
    """Merge the layers; ``flags`` maps setting names to the options given (None: not given)."""
    environ = os.environ if environ is None else environ
    settings = PortalSettings()
    file = config or environ.get(ENV_CONFIG)
    if file:
        _from_file(settings, _read_config(Path(file)), Path(file))
    for path, name, parse in _KEYS:
        variable = env_var(path)
        if name not in _FILE_ONLY and environ.get(variable):
            setattr(settings, name, parse(variable, environ[variable]))
    for name, value in (flags or {}).items():
        if value is not None:
            flag = _FLAGS.get(name, f"--{name.replace('_', '-')}")
            setattr(settings, name, _BY_NAME[name][1](flag, value))
    if not settings.base_url:
        host = settings.http_host if settings.http_host not in ("0.0.0.0", "::", "") else None
        host = host or "127.0.0.1"
        settings.base_url = f"http://{f'[{host}]' if ':' in host else host}:{settings.http_port}"
    _check_together(settings)
    return settings
