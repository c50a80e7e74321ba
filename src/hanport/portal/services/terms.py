"""Versioned terms of use: text, SHA-256 and effective date; every order records the version.

A version is published once and never edited: customer service (or an operator with the
`hanport portal-terms` command) publishes a new one, now or scheduled for a later moment, and
it becomes the current terms at its `effective_from`. The next order after that asks again.
Every version has a bokmål and an English text; a nynorsk one is optional (migration 0014), and
without it nynorsk readers read the bokmål text.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Row, bindparam, inspect, select
from sqlalchemy.exc import IntegrityError

from hanport.i18n import N_
from hanport.portal.db.schema import inserted_id, orders, parties, terms_versions
from hanport.portal.domain.model import Actor
from hanport.portal.domain.sla import OSLO
from hanport.portal.services.errors import InvalidInput, NotFound, Refused, Text, text
from hanport.portal.services.tx import Tx, lock_keys, transaction

__all__ = [
    "DRAFT_FIELDS",
    "MAX_SUMMARY_CHARS",
    "MAX_TEXT_CHARS",
    "TermsDraft",
    "TermsStep",
    "TermsVersion",
    "accepted_terms",
    "canonical_text",
    "changes_since",
    "check_draft",
    "current_terms",
    "draft_fingerprint",
    "get_terms",
    "list_terms",
    "parse_moment",
    "preview_or_publish",
    "preview_terms",
    "publish_terms",
    "record_terms",
    "shown_language",
    "terms_hash",
]

MAX_TEXT_CHARS = 100_000  #: per language; the demo terms are about 700
MAX_SUMMARY_CHARS = 1_000
#: a published time in the current minute counts as "now": forms give minutes, not seconds
NOW_TOLERANCE = timedelta(minutes=1)
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]*$")
_VERSION_MAX = 16  # terms_versions.version is String(16)


def canonical_text(text: str) -> str:
    """The form of a text that is stored, shown and hashed.

    Unicode NFC (an "ø" typed on another system may arrive as "o" + combining stroke), LF line
    ends, no trailing blanks on a line, no blank lines around the text, one final newline: two
    texts that read the same hash the same, and the stored text always matches its hash.
    """
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    body = "\n".join(lines).strip("\n")
    return f"{body}\n" if body else ""


def terms_hash(text_nb: str, text_en: str, text_nn: str = "") -> str:
    """SHA-256 over the canonical texts: the one fingerprint of what a customer accepted.

    A version without a nynorsk text hashes as before nynorsk existed (bokmål, separator,
    English); with one, a separator and the nynorsk text follow."""
    texts = [canonical_text(text_nb), canonical_text(text_en)]
    if canonical_text(text_nn):
        texts.append(canonical_text(text_nn))
    return hashlib.sha256("\n\x00\n".join(texts).encode()).hexdigest()


#: the version in force at `now`, built once (every point page and open order asks)
_CURRENT = (
    select(terms_versions)
    .where(terms_versions.c.effective_from <= bindparam("now"))
    .order_by(terms_versions.c.effective_from.desc(), terms_versions.c.id.desc())
    .limit(1)
)


def current_terms(conn: Connection, now: datetime) -> Row[Any] | None:
    """The version in force at `now`: the latest whose effective_from has come."""
    return conn.execute(_CURRENT, {"now": now}).first()


@dataclass(frozen=True, slots=True)
class TermsVersion:
    id: int
    version: str
    text_nb: str
    text_en: str
    sha256: str
    effective_from: datetime
    change_summary: str
    published_by: str | None  #: actor label; None = seed data
    published_at: datetime | None
    status: str  #: current | scheduled | superseded
    publisher: str  #: who published it, for people: a staff member's name, "cli:<user>", "seed"
    text_nn: str = ""  #: nynorsk; empty: none was published

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]

    def text(self, lang: str) -> str:
        """The text a reader of `lang` is shown (see `shown_language`)."""
        shown = shown_language(lang, self.text_nn)
        return {"en": self.text_en, "nn": self.text_nn}.get(shown, self.text_nb)


def shown_language(lang: str, text_nn: str | None) -> str:
    """The language of the terms a page in `lang` shows: English, nynorsk when the version has
    a nynorsk text, otherwise bokmål."""
    if lang == "en":
        return "en"
    return "nn" if lang == "nn" and text_nn else "nb"


def _versions(conn: Connection, now: datetime, where: Any = None) -> list[TermsVersion]:
    current = current_terms(conn, now)
    query = select(terms_versions).order_by(
        terms_versions.c.effective_from.desc(), terms_versions.c.id.desc()
    )
    if where is not None:
        query = query.where(where)
    rows = conn.execute(query).all()
    party_ids = {
        int(label.removeprefix("party:"))
        for label in (row.published_by or "" for row in rows)
        if label.startswith("party:")
        and label.removeprefix("party:").isascii()
        and label.removeprefix("party:").isdigit()
    }
    names = {
        f"party:{party.id}": party.display_name
        for party in conn.execute(
            select(parties.c.id, parties.c.display_name).where(parties.c.id.in_(party_ids))
        )
    }
    found = []
    for row in rows:
        if current is not None and row.id == current.id:
            status = "current"
        elif row.effective_from > now:
            status = "scheduled"
        else:
            status = "superseded"
        found.append(
            TermsVersion(
                id=row.id,
                version=row.version,
                text_nb=row.text_nb,
                text_en=row.text_en,
                sha256=row.sha256,
                effective_from=row.effective_from,
                change_summary=row.change_summary or "",
                published_by=row.published_by,
                published_at=row.published_at,
                status=status,
                publisher=names.get(row.published_by, row.published_by or "seed"),
                text_nn=row.text_nn or "",
            )
        )
    return found


def list_terms(conn: Connection, now: datetime) -> list[TermsVersion]:
    """Every version, the latest effective first, each marked current, scheduled or superseded."""
    return _versions(conn, now)


def get_terms(conn: Connection, version_id: int, now: datetime) -> TermsVersion:
    found = _versions(conn, now, terms_versions.c.id == version_id)
    if not found:
        raise NotFound(N_("No such terms version"))
    return found[0]


def changes_since(conn: Connection, seen_id: int, now: datetime) -> list[TermsVersion]:
    """The versions that took effect after the one a customer saw, up to now; latest first."""
    seen = conn.execute(
        select(terms_versions.c.effective_from).where(terms_versions.c.id == seen_id)
    ).scalar()
    if seen is None:
        return []
    return _versions(
        conn,
        now,
        (terms_versions.c.effective_from > seen) & (terms_versions.c.effective_from <= now),
    )


def parse_moment(text: str) -> datetime:
    """An ISO 8601 moment; without a zone it is Norwegian local time (what staff mean)."""
    moment = datetime.fromisoformat(text.strip())
    return moment.replace(tzinfo=OSLO) if moment.tzinfo is None else moment


@dataclass(frozen=True, slots=True)
class TermsDraft:
    """A validated version, ready to store: canonical texts and their hash."""

    version: str
    text_nb: str
    text_en: str
    change_summary: str
    effective_from: datetime
    sha256: str
    replaces: str | None  #: the version customers see until this one takes effect
    text_nn: str = ""  #: nynorsk, optional


def draft_fingerprint(
    version: str,
    effective_from: str,
    change_summary: str,
    text_nb: str,
    text_en: str,
    text_nn: str = "",
) -> str:
    """What a preview showed: publishing anything else needs a new preview first."""
    parts = (
        version.strip(),
        effective_from.strip(),
        " ".join(change_summary.split()),
        terms_hash(text_nb, text_en, text_nn),
    )
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def _check_version(conn: Connection, version: str, errors: dict[str, Text | str]) -> None:
    """A new version needs a short, plain, unused number (published terms never change)."""
    if not version:
        errors["version"] = N_("Enter a version, e.g. 2.0")
    elif len(version) > _VERSION_MAX or not _VERSION.match(version):
        errors["version"] = text(
            N_(
                "The version may have up to {max} characters: letters, digits, dots and "
                "hyphens (e.g. 2.0 or 2026-1)"
            ),
            max=_VERSION_MAX,
        )
    elif conn.execute(
        select(terms_versions.c.id).where(terms_versions.c.version == version)
    ).first():
        errors["version"] = text(
            N_(
                "Version {version} already exists. Published terms are never changed; use a "
                "new version."
            ),
            version=version,
        )


def _effective_from(
    effective_from: datetime | str | None,
    now: datetime,
    latest: Any,
    errors: dict[str, Text | str],
) -> datetime:
    """When the draft takes effect: now or later, and after the latest version."""
    starts = now
    try:
        if isinstance(effective_from, str):
            starts = parse_moment(effective_from) if effective_from.strip() else now
        elif effective_from is not None:
            if effective_from.tzinfo is None:
                raise ValueError("naive datetime")
            starts = effective_from
    except ValueError:
        errors["effective_from"] = N_("Enter the moment as date and time, e.g. 2026-12-01T00:00")
    else:
        if starts < now - NOW_TOLERANCE:
            errors["effective_from"] = N_("Terms cannot be backdated: choose now or a later moment")
        elif latest is not None and starts <= latest.effective_from:
            errors["effective_from"] = text(
                N_("Must take effect after version {version} ({starts})"),
                version=latest.version,
                starts=latest.effective_from,
            )
        starts = max(starts, now)  # "this minute" means now, never a moment already past
    return starts


def check_draft(
    conn: Connection,
    now: datetime,
    *,
    version: str,
    text_nb: str,
    text_en: str,
    change_summary: str = "",
    effective_from: datetime | str | None = None,
    text_nn: str = "",
) -> TermsDraft:
    """Validate a new version against the published ones; InvalidInput names every bad field.
    The nynorsk text may be left out (nynorsk readers then read bokmål)."""
    errors: dict[str, Text | str] = {}
    version = version.strip()
    _check_version(conn, version, errors)
    texts = {
        "text_nb": canonical_text(text_nb),
        "text_en": canonical_text(text_en),
        "text_nn": canonical_text(text_nn),
    }
    missing = {
        "text_nb": N_("Enter the text of the terms in Norwegian (bokmål)"),
        "text_en": N_("Enter the text of the terms in English"),
    }
    too_long = {
        "text_nb": N_("The Norwegian (bokmål) text is too long (at most {max} characters)"),
        "text_en": N_("The English text is too long (at most {max} characters)"),
        "text_nn": N_("The Norwegian (nynorsk) text is too long (at most {max} characters)"),
    }
    for field, content in texts.items():
        if not content and field in missing:
            errors[field] = missing[field]
        elif len(content) > MAX_TEXT_CHARS:
            errors[field] = text(too_long[field], max=MAX_TEXT_CHARS)
    latest = conn.execute(
        select(terms_versions.c.version, terms_versions.c.effective_from)
        .order_by(terms_versions.c.effective_from.desc(), terms_versions.c.id.desc())
        .limit(1)
    ).first()
    summary = " ".join(change_summary.split())
    if latest is not None and not summary:
        errors["change_summary"] = N_(
            "Say briefly what changed; customers see it when they accept the terms again"
        )
    elif len(summary) > MAX_SUMMARY_CHARS:
        errors["change_summary"] = text(
            N_("The summary is too long (at most {max} characters)"), max=MAX_SUMMARY_CHARS
        )
    starts = _effective_from(effective_from, now, latest, errors)
    if errors:
        raise InvalidInput(errors)
    current = current_terms(conn, now)
    return TermsDraft(
        version=version,
        text_nb=texts["text_nb"],
        text_en=texts["text_en"],
        change_summary=summary,
        effective_from=starts,
        sha256=terms_hash(texts["text_nb"], texts["text_en"], texts["text_nn"]),
        replaces=None if current is None else current.version,
        text_nn=texts["text_nn"],
    )


def record_terms(tx: Tx, actor: Actor | str, draft: TermsDraft, *, seed: bool = False) -> int:
    """Store a checked draft and audit it; `seed` data carries no publisher."""
    if seed and draft.text_nn and not _has_nynorsk(tx.conn):
        # a database of a schema before 0014 (the migration tests seed old schemas) stores
        # the version as it was then: bokmål and English, hashed as such
        draft = dataclasses.replace(
            draft, text_nn="", sha256=terms_hash(draft.text_nb, draft.text_en)
        )
    values: dict[str, Any] = {
        "version": draft.version,
        "text_nb": draft.text_nb,
        "text_en": draft.text_en,
        "sha256": draft.sha256,
        **({"text_nn": draft.text_nn} if draft.text_nn else {}),
        "effective_from": draft.effective_from,
        "change_summary": draft.change_summary,
    }
    if not seed:
        # seed data names no publisher, and so also seeds a database of an older schema
        # (the migration tests seed before upgrading)
        values["published_by"] = actor.label if isinstance(actor, Actor) else actor
        values["published_at"] = tx.now
    try:
        result = tx.conn.execute(terms_versions.insert().values(**values))
    except IntegrityError:
        # published by someone else between the check and the insert; the whole command
        # rolls back
        raise InvalidInput(
            {
                "version": text(
                    N_("Version {version} was just published by someone else"),
                    version=draft.version,
                )
            }
        ) from None
    version_id = inserted_id(result)
    tx.audit(
        actor,
        "terms.published",
        "terms",
        version_id,
        version=draft.version,
        sha256=draft.sha256,
        effective_from=draft.effective_from.isoformat(),
        replaces=draft.replaces,
    )
    return version_id


def _has_nynorsk(conn: Connection) -> bool:
    return any(c["name"] == "text_nn" for c in inspect(conn).get_columns("terms_versions"))


def _refuse_non_staff(tx: Tx, actor: Actor | str, version: str) -> None:
    # a label string is an operator at the database (the CLI), who may do this anyway
    if isinstance(actor, Actor) and not actor.is_staff:
        tx.record_refusal(
            actor, "terms.publish", "terms", version.strip()[:_VERSION_MAX] or "-", "staff_only"
        )
        raise Refused(
            "staff_only",
            N_("Only customer service can publish terms."),
            code="staff_only",
        )


def preview_terms(
    engine: Engine,
    actor: Actor | str,
    *,
    version: str,
    text_nb: str,
    text_en: str,
    change_summary: str = "",
    effective_from: datetime | str | None = None,
    now: datetime | None = None,
    text_nn: str = "",
) -> TermsDraft:
    """What `publish_terms` would store, without storing it (staff only, like publishing)."""
    with transaction(engine, now) as tx:
        _refuse_non_staff(tx, actor, version)
        return check_draft(
            tx.conn,
            tx.now,
            version=version,
            text_nb=text_nb,
            text_en=text_en,
            change_summary=change_summary,
            effective_from=effective_from,
            text_nn=text_nn,
        )


def publish_terms(
    engine: Engine,
    actor: Actor | str,
    *,
    version: str,
    text_nb: str,
    text_en: str,
    change_summary: str = "",
    effective_from: datetime | str | None = None,
    now: datetime | None = None,
    text_nn: str = "",
) -> TermsVersion:
    """Publish a new version (staff or an operator label such as "cli:ola"); audited.

    `effective_from` None or empty means now; a string is ISO 8601, local time without a zone.
    Returns the stored version: its id, hash and whether it is current or scheduled.
    """
    with transaction(engine, now) as tx:
        _refuse_non_staff(tx, actor, version)
        # one publisher at a time: the checks (unique, after the latest) hold until commit
        lock_keys(tx.conn, ["terms_versions"])
        draft = check_draft(
            tx.conn,
            tx.now,
            version=version,
            text_nb=text_nb,
            text_en=text_en,
            change_summary=change_summary,
            effective_from=effective_from,
            text_nn=text_nn,
        )
        version_id = record_terms(tx, actor, draft)
        return get_terms(tx.conn, version_id, tx.now)


#: the publish form's fields, in the order of the form
DRAFT_FIELDS = ("version", "effective_from", "change_summary", "text_nb", "text_en", "text_nn")


@dataclass(frozen=True, slots=True)
class TermsStep:
    """What the publish form led to: a preview to check, or the published version."""

    preview: TermsDraft | None = None
    published: TermsVersion | None = None
    #: the form asked to publish, but differs from what its preview showed: previewed again
    changed_after_preview: bool = False


def preview_or_publish(
    engine: Engine, actor: Actor | str, form: dict[str, str], now: datetime | None = None
) -> TermsStep:
    """The back office's two-step form: publish only exactly what a preview showed (its
    fingerprint travels with the form); anything else is previewed (again) first."""
    fields = {name: form.get(name, "") for name in DRAFT_FIELDS}
    fingerprint = draft_fingerprint(**fields)
    wants_publish = form.get("step") == "publish"
    if wants_publish and hmac.compare_digest(form.get("fingerprint", ""), fingerprint):
        return TermsStep(published=publish_terms(engine, actor, **fields, now=now))
    draft = preview_terms(engine, actor, **fields, now=now)
    return TermsStep(preview=draft, changed_after_preview=wants_publish)


def accepted_terms(conn: Connection, order_id: int) -> dict[str, Any] | None:
    """Which terms an order accepted, when, in which language and by whom (None: none needed)."""
    row = conn.execute(
        select(
            terms_versions.c.version,
            terms_versions.c.sha256.label("version_sha256"),
            orders.c.terms_sha256,
            orders.c.terms_lang,
            orders.c.terms_accepted_at,
            parties.c.display_name,
        )
        .join(terms_versions, terms_versions.c.id == orders.c.terms_version_id)
        .outerjoin(parties, parties.c.id == orders.c.requested_by)
        .where(orders.c.id == order_id)
    ).first()
    if row is None:
        return None
    # the order's own copy of the hash is what was accepted; older orders have only the version
    sha256 = row.terms_sha256 or row.version_sha256
    return {
        "version": row.version,
        "sha256": sha256,
        "short_hash": sha256[:12],
        "lang": row.terms_lang,
        "accepted_at": row.terms_accepted_at,
        "accepted_by": row.display_name,
    }
