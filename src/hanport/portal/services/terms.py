"""Versioned terms of use: text, SHA-256 and effective date; every order records the version."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from hanport.portal.db.schema import inserted_id, terms_versions

__all__ = ["current_terms", "publish_terms", "terms_hash"]


def terms_hash(text_nb: str, text_en: str) -> str:
    return hashlib.sha256(f"{text_nb}\n\x00\n{text_en}".encode()).hexdigest()


def current_terms(conn: Connection, now: datetime) -> Row[Any] | None:
    return conn.execute(
        select(terms_versions)
        .where(terms_versions.c.effective_from <= now)
        .order_by(terms_versions.c.effective_from.desc(), terms_versions.c.id.desc())
        .limit(1)
    ).first()


def publish_terms(
    conn: Connection,
    version: str,
    *,
    text_nb: str,
    text_en: str,
    effective_from: datetime,
    change_summary: str = "",
) -> int:
    result = conn.execute(
        terms_versions.insert().values(
            version=version,
            text_nb=text_nb,
            text_en=text_en,
            sha256=terms_hash(text_nb, text_en),
            effective_from=effective_from,
            change_summary=change_summary,
        )
    )
    return inserted_id(result)
