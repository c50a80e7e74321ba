"""A real OpenID provider on loopback (the npm package oidc-provider, a certified
implementation) standing in for ID-porten: tests/oidc/provider.mjs with synthetic people.

``npm ci`` runs in tests/oidc when its node_modules is missing (package-lock.json pins it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .paths import REPO_ROOT
from .ports import LOOPBACK, ServiceStartError, free_port, wait_for_port
from .processes import die_with_parent, missing, read_log, service_directory, stop_process

__all__ = [
    "PROVIDER_DIR",
    "OidcClient",
    "OidcProvider",
    "SyntheticPerson",
    "ensure_installed",
    "oidc_provider_factory",
    "sign_in_at_provider",
]

PROVIDER_DIR = REPO_ROOT / "tests" / "oidc"


@dataclass(frozen=True)
class OidcClient:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    #: the portal's back-channel logout endpoint; with it the provider puts `sid` in the ID
    #: token and posts a logout token there when its session ends
    logout_uri: str | None = None
    #: where the provider may send the browser back after RP-initiated logout
    post_logout_redirect_uris: list[str] | None = None


@dataclass(frozen=True)
class SyntheticPerson:
    """Someone the provider signs in: a customer by synthetic pid (ID-porten), or a member of
    the company's staff by subject, e-mail address and groups."""

    pid: str | None
    name: str
    groups: list[str] = field(default_factory=list)
    sub: str | None = None
    email: str | None = None

    @property
    def login(self) -> str:
        """The value the provider's sign-in form sends for this person."""
        return self.pid or self.sub or ""


def _without_none(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def ensure_installed() -> None:
    """``npm ci`` in tests/oidc unless oidc-provider is installed there already."""
    if (PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json").exists():
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        missing("node and npm are needed for the OpenID provider (Debian packages nodejs, npm)")
        return
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=PROVIDER_DIR, check=True, timeout=300
    )


@dataclass
class OidcProvider:
    """``start()`` serves the provider at ``issuer``; ``stop()`` ends it."""

    clients: list[OidcClient]
    people: list[SyntheticPerson]
    port: int = field(default_factory=free_port)
    _process: subprocess.Popen[bytes] | None = None
    _log: Path | None = None

    @property
    def issuer(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> OidcProvider:
        ensure_installed()
        directory = service_directory("oidc")
        self._log = directory / "provider.log"
        env = {
            **os.environ,
            "OIDC_PORT": str(self.port),
            "OIDC_CLIENTS": json.dumps([_without_none(vars(c)) for c in self.clients]),
            "OIDC_PEOPLE": json.dumps([_without_none(vars(p)) for p in self.people]),
        }
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                [*die_with_parent(), "node", str(PROVIDER_DIR / "provider.mjs")],
                cwd=PROVIDER_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for_port(LOOPBACK, self.port, process=self._process, what="oidc-provider")
        except ServiceStartError as exc:
            self.stop()
            raise ServiceStartError(f"{exc}\n{read_log(self._log)}") from None
        return self

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process)
            self._process = None

    def log(self) -> str:
        return read_log(self._log) if self._log else ""


@pytest.fixture
def oidc_provider_factory() -> Iterator[Any]:
    """Start providers with given clients and people; every one is stopped after the test."""
    started: list[OidcProvider] = []

    def start(clients: list[OidcClient], people: list[SyntheticPerson]) -> OidcProvider:
        provider = OidcProvider(clients, people).start()
        started.append(provider)
        return provider

    try:
        yield start
    finally:
        for provider in started:
            provider.stop()


def sign_in_at_provider(authorization_url: str, login: str, stop_at: str) -> str:
    """Sign in at the provider as `login` (pid or staff subject) without a browser; returns
    the URL the provider sends the browser back to (starting with `stop_at`), unfollowed, so
    tests can hold or alter it."""
    import httpx

    with httpx.Client(follow_redirects=False, timeout=10) as client:
        response = client.get(authorization_url)
        for _ in range(10):
            location = response.headers.get("location")
            if location is not None and location.startswith(stop_at):
                return str(location)
            if response.status_code in (302, 303) and location is not None:
                response = client.get(httpx.URL(str(response.url)).join(location))
            elif response.status_code == 200 and "/interaction/" in str(response.url):
                response = client.post(f"{response.url}/login", data={"pid": login})
            else:
                break
        raise AssertionError(
            f"the provider did not send us back: {response.status_code} {response.text[:300]}"
        )
