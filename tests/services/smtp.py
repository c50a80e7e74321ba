"""An SMTP server (aiosmtpd) that keeps every message it receives, for tests to look at.

``SmtpCatcher()`` is a plain server that accepts any login. ``SmtpCatcher(secure=...)`` stands in
for a company's relay: STARTTLS (or TLS from the first byte) with a self-signed certificate made
here, and a login with the given user name and password required, refused before TLS.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from .ports import LOOPBACK, free_port

__all__ = ["CapturedMail", "SmtpCatcher", "self_signed_certificate"]

MessagePredicate = Callable[[EmailMessage], bool]


@dataclass(frozen=True)
class CapturedMail:
    """The SMTP envelope of a received message (the headers may say something else)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage


class _CollectingHandler:
    def __init__(self, catcher: SmtpCatcher) -> None:
        self._catcher = catcher

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self._catcher._add(
            CapturedMail(envelope.mail_from or "", tuple(envelope.rcpt_tos), message)
        )
        return "250 Message accepted for delivery"


def _accept_any_login(
    server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    # Code under test may be configured with SMTP credentials; any login is fine here.
    login = data.login.decode() if isinstance(data, LoginPassword) else None
    return AuthResult(success=True, auth_data=login)


def self_signed_certificate(directory: Path, host: str = LOOPBACK) -> tuple[Path, Path]:
    """A certificate for `host` (and localhost) signed by itself, and its key: (cert, key) PEM
    files in `directory`. A client trusts it by loading the certificate as its CA."""
    import ipaddress
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hanport test relay")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "relay-cert.pem", directory / "relay-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _RequiredLogin:
    """Accepts only `username` with `password` (LOGIN or PLAIN); counts the refusals."""

    def __init__(self, username: str, password: str) -> None:
        self.credentials = (username.encode(), password.encode())
        self.refused = 0

    def __call__(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword) and (data.login, data.password) == self.credentials:
            return AuthResult(success=True, auth_data=data.login.decode())
        self.refused += 1
        return AuthResult(success=False, handled=False)


class SmtpCatcher:
    """``start()`` an SMTP server on a free loopback port; messages land in ``.messages``.

    With ``secure`` ("starttls" or "tls") and ``cert_dir``, the server has a self-signed
    certificate (``.ca_file`` for clients to trust) and requires TLS and a login as
    ``username``/``password``: mail before STARTTLS, AUTH before TLS and mail without AUTH are
    refused.
    """

    def __init__(
        self,
        secure: Literal["starttls", "tls"] | None = None,
        *,
        cert_dir: Path | None = None,
        username: str = "relay-user",
        password: str = "relay-pass-Æ1",
    ) -> None:
        self.host = LOOPBACK
        self.port = 0
        self.mails: list[CapturedMail] = []
        self._changed = threading.Condition()
        self._controller: Controller | None = None
        self.secure = secure
        self.username, self.password = username, password
        self.ca_file: Path | None = None
        self._tls: ssl.SSLContext | None = None
        self._login: _RequiredLogin | None = None
        if secure is not None:
            if cert_dir is None:
                raise ValueError("a TLS server needs cert_dir for its certificate")
            cert, key = self_signed_certificate(cert_dir, self.host)
            self.ca_file = cert
            self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._tls.load_cert_chain(cert, key)
            self._login = _RequiredLogin(username, password)

    @property
    def refused_logins(self) -> int:
        return 0 if self._login is None else self._login.refused

    def _server_options(self) -> dict[str, Any]:
        if self.secure is None:
            return {"authenticator": _accept_any_login, "auth_require_tls": False}
        if self.secure == "tls":
            # TLS from the first byte: nothing crosses in clear. aiosmtpd only counts STARTTLS
            # as TLS, so with auth_require_tls it would never offer AUTH here
            tls: dict[str, Any] = {"ssl_context": self._tls, "auth_require_tls": False}
        else:
            tls = {"tls_context": self._tls, "require_starttls": True, "auth_require_tls": True}
        return {"authenticator": self._login, "auth_required": True, **tls}

    @property
    def messages(self) -> list[EmailMessage]:
        """Every message received since the last ``clear()``, oldest first."""
        with self._changed:
            return [mail.message for mail in self.mails]

    def start(self, attempts: int = 3) -> None:
        error: Exception | None = None
        for _ in range(attempts):
            port = free_port()
            controller = Controller(
                _CollectingHandler(self),
                hostname=self.host,
                port=port,
                ready_timeout=10,
                enable_SMTPUTF8=True,
                **self._server_options(),
            )
            try:
                controller.start()
            except Exception as exc:  # port taken in the meantime: try another
                error = exc
                continue
            self._controller, self.port = controller, port
            return
        raise RuntimeError(f"SMTP server did not start: {error}")

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def clear(self) -> None:
        with self._changed:
            self.mails.clear()

    def wait_for(
        self, predicate: MessagePredicate | None = None, timeout: float = 10.0
    ) -> EmailMessage:
        """Block until a message matching ``predicate`` (any message if None) has arrived.

        For sync tests; async tests use ``await smtp_server.wait_for_async(...)`` so the event
        loop (and the code sending the mail) keeps running.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = self._find(predicate)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(self._timeout_message(timeout))
                self._changed.wait(remaining)

    async def wait_for_async(
        self, predicate: MessagePredicate | None = None, timeout: float = 10.0
    ) -> EmailMessage:
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                found = self._find(predicate)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_message(timeout))
            await asyncio.sleep(0.02)

    def _find(self, predicate: MessagePredicate | None) -> EmailMessage | None:
        for mail in self.mails:
            if predicate is None or predicate(mail.message):
                return mail.message
        return None

    def _timeout_message(self, timeout: float) -> str:
        subjects = [str(mail.message["Subject"]) for mail in self.mails]
        return f"no matching e-mail within {timeout} s; received subjects: {subjects}"

    def _add(self, mail: CapturedMail) -> None:
        with self._changed:
            self.mails.append(mail)
            self._changed.notify_all()
