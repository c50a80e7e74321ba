"""Sign-in. This version e-mails a one-time code; the `SignInMethod` protocol is the seam for
ID-porten/BankID over OpenID Connect, which returns the same `Identity` from its callback.

Codes are 6 digits, stored only as a salted hash, valid 10 minutes, at most 5 guesses each, and
at most 3 codes per address per 15 minutes and 10 a day. Asking for a code for an unknown address
looks the same as for a known one, so the form does not reveal who is a customer. The limits hold
under concurrent requests on PostgreSQL too (advisory locks, conditional updates).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Engine, func, select, update

from hanport.i18n import N_
from hanport.portal.db.schema import parties, signin_codes
from hanport.portal.domain.limits import EMAIL_MAX, too_long
from hanport.portal.services import notify
from hanport.portal.services.errors import InvalidInput, RateLimited, at_most
from hanport.portal.services.proxies import valid_email
from hanport.portal.services.tx import lock_keys, transaction

__all__ = ["EmailCodeSignIn", "Identity", "SignInLimits", "SignInMethod"]

CODE_TTL = timedelta(minutes=10)
MAX_GUESSES = 5
MAX_CODES = 3
MAX_CODES_PER_CLIENT = 10  #: one client asking for codes for many addresses
CODE_WINDOW = timedelta(minutes=15)
MAX_CODES_PER_DAY = 10  #: per address: caps guessing at 50 a day beyond the 15-minute window
DAY_WINDOW = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class SignInLimits:
    """How many codes may be asked for; the configuration's [rate_limits]."""

    codes_per_address: int = MAX_CODES  #: per CODE_WINDOW
    codes_per_client: int = MAX_CODES_PER_CLIENT  #: per CODE_WINDOW
    codes_per_address_day: int = MAX_CODES_PER_DAY


@dataclass(frozen=True, slots=True)
class Identity:
    party_id: int
    subject: str  #: "email:<address>" today; the OIDC `sub` with ID-porten
    method: str  #: "email-code" | "oidc"


class SignInMethod(Protocol):
    def start(self, email: str, now: datetime | None = None, client: str | None = None) -> None: ...

    def finish(self, email: str, code: str, now: datetime | None = None) -> Identity: ...


def _bad_code() -> InvalidInput:
    return InvalidInput({"code": N_("The code is wrong or has expired. Ask for a new code.")})


class EmailCodeSignIn:
    def __init__(self, engine: Engine, secret: bytes, limits: SignInLimits | None = None) -> None:
        self.engine = engine
        self.secret = secret
        self.limits = limits or SignInLimits()

    def _hash(self, email: str, code: str) -> str:
        return hmac.new(self.secret, f"{email}:{code}".encode(), hashlib.sha256).hexdigest()

    def start(self, email: str, now: datetime | None = None, client: str | None = None) -> None:
        if too_long(email, EMAIL_MAX):  # say the limit, not "invalid"
            raise InvalidInput({"email": at_most(EMAIL_MAX)})
        address = valid_email(email)
        if address is None:
            raise InvalidInput({"email": N_("Enter a valid e-mail address")})
        with transaction(self.engine, now) as tx:
            # count-then-insert is only a limit if requests for the same address (or client)
            # cannot interleave: SQLite serialises writers already, PostgreSQL needs a lock
            lock_keys(tx.conn, [f"signin:{address}"] + ([f"client:{client}"] if client else []))
            today_count = tx.conn.execute(
                select(func.count())
                .select_from(signin_codes)
                .where(
                    signin_codes.c.email == address,
                    signin_codes.c.created_at > tx.now - DAY_WINDOW,
                )
            ).scalar_one()
            recent = tx.conn.execute(
                select(func.count())
                .select_from(signin_codes)
                .where(
                    signin_codes.c.email == address,
                    signin_codes.c.created_at > tx.now - CODE_WINDOW,
                )
            ).scalar_one()
            from_client = 0
            if client is not None:
                from_client = tx.conn.execute(
                    select(func.count())
                    .select_from(signin_codes)
                    .where(
                        signin_codes.c.client == client,
                        signin_codes.c.created_at > tx.now - CODE_WINDOW,
                    )
                ).scalar_one()
            limits = self.limits
            if (
                recent >= limits.codes_per_address
                or today_count >= limits.codes_per_address_day
                or from_client >= limits.codes_per_client
            ):
                tx.record_refusal(
                    f"email:{address}",
                    "signin.code",
                    "email",
                    address,
                    "rate_limited",
                    client=client,
                )
                if today_count >= limits.codes_per_address_day:
                    raise RateLimited(
                        N_("Too many codes today. Try again tomorrow, or call customer service."),
                    )
                raise RateLimited(
                    N_("Too many codes. Wait a quarter of an hour and try again."),
                )
            party = tx.conn.execute(select(parties).where(parties.c.email == address)).first()
            code = f"{secrets.randbelow(10**6):06d}"
            tx.conn.execute(
                signin_codes.insert().values(
                    email=address,
                    code_hash=self._hash(address, code),
                    created_at=tx.now,
                    client=client,
                    expires_at=tx.now + CODE_TTL,
                    attempts=0,
                )
            )
            if party is not None:
                notify.enqueue(tx.conn, tx.now, address, "signin_code", party.lang, code=code)
            tx.audit(
                f"email:{address}",
                "signin.code_requested",
                "email",
                address,
                known=party is not None,
            )

    def finish(self, email: str, code: str, now: datetime | None = None) -> Identity:
        address = valid_email(email)
        code = code.strip()
        if address is None or not (code.isdigit() and len(code) == 6):
            raise _bad_code()
        with transaction(self.engine, now) as tx:
            row = tx.conn.execute(
                select(signin_codes)
                .where(
                    signin_codes.c.email == address,
                    signin_codes.c.used_at.is_(None),
                    signin_codes.c.expires_at > tx.now,
                )
                .order_by(signin_codes.c.id.desc())
            ).first()
            if row is None:
                raise _bad_code()
            # count the guess before checking it, atomically: parallel guesses each take one
            # of the MAX_GUESSES slots, and none is checked once they are used up
            counted = tx.conn.execute(
                update(signin_codes)
                .where(signin_codes.c.id == row.id, signin_codes.c.attempts < MAX_GUESSES)
                .values(attempts=signin_codes.c.attempts + 1)
            ).rowcount
            if counted != 1:
                raise _bad_code()
            if not hmac.compare_digest(row.code_hash, self._hash(address, code)):
                tx.audit(f"email:{address}", "signin.wrong_code", "email", address)
                error = _bad_code()
                # keep the counted guess: commit, then raise outside the transaction
                pending: InvalidInput | None = error
            else:
                pending = None
                party = tx.conn.execute(select(parties).where(parties.c.email == address)).first()
                if party is None:
                    raise _bad_code()
                used = tx.conn.execute(
                    update(signin_codes)
                    .where(signin_codes.c.id == row.id, signin_codes.c.used_at.is_(None))
                    .values(used_at=tx.now)
                ).rowcount
                if used != 1:
                    raise _bad_code()  # the same code was used at the same moment
                tx.conn.execute(
                    update(parties)
                    .where(parties.c.id == party.id)
                    .values(idp_subject=f"email:{address}")
                )
                tx.audit(f"party:{party.id}", "signin.ok", "party", party.id, method="email-code")
        if pending is not None or party is None:
            raise pending or _bad_code()
        return Identity(int(party.id), f"email:{address}", "email-code")
