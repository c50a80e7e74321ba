"""An SMTP server (aiosmtpd) that keeps every message it receives, for tests to look at."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from .ports import LOOPBACK, free_port

__all__ = ["CapturedMail", "SmtpCatcher"]

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


class SmtpCatcher:
    """``start()`` an SMTP server on a free loopback port; messages land in ``.messages``."""

    def __init__(self) -> None:
        self.host = LOOPBACK
        self.port = 0
        self.mails: list[CapturedMail] = []
        self._changed = threading.Condition()
        self._controller: Controller | None = None

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
                authenticator=_accept_any_login,
                auth_require_tls=False,
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
