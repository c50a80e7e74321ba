"""The message catalogs: every text the code and templates mark is translated in every language,
with the same placeholders, and nynorsk falls back to bokmål at runtime."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from datetime import date
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from hanport import i18n

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "hanport"
PLACEHOLDER = re.compile(r"%\(\w+\)[sdfr]|%[sdfr]|\{\w*\}")
# as `make messages` extracts: NC_ marks a text with a context, tr is a template's translator
KEYWORDS = {**DEFAULT_KEYWORDS, "NC_": ((1, "c"), 2), "tr": None}
CASES = [(domain, lang) for domain in i18n.DOMAINS for lang in i18n.LANGS]


@cache
def _extracted(domain: str) -> Catalog:
    """What `make messages` would extract for `domain` now."""
    with (ROOT / f"babel-{domain}.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    catalog = Catalog(domain=domain)
    for filename, lineno, message, comments, context in extract_from_dir(
        PACKAGE / domain, method_map, options_map, KEYWORDS, strip_comment_tags=True
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def _catalog(domain: str, lang: str) -> Catalog:
    with i18n.catalog_path(domain, lang, ".po").open("rb") as source:
        return read_po(source, locale=lang)


def _key(message: Message) -> tuple[str, str | None]:
    msgid = message.id[0] if isinstance(message.id, tuple) else message.id
    return msgid, message.context


def _strings(value: str | tuple[str | None, ...] | None) -> list[str]:
    if value is None:
        return []
    return [v or "" for v in value] if isinstance(value, tuple) else [value]


@pytest.mark.parametrize(("domain", "lang"), CASES)
def test_every_message_is_translated(domain: str, lang: str) -> None:
    catalog = _catalog(domain, lang)
    missing, untranslated = [], []
    for wanted in _extracted(domain):
        if not wanted.id:
            continue
        found = catalog.get(*_key(wanted))
        if found is None:
            missing.append(_key(wanted))
        elif found.fuzzy or not all(_strings(found.string)) or not _strings(found.string):
            untranslated.append(_key(wanted))
    assert not missing, f"{domain}/{lang}: not in the catalog (run `make messages`): {missing}"
    assert not untranslated, f"{domain}/{lang}: untranslated or fuzzy: {untranslated}"


@pytest.mark.parametrize(("domain", "lang"), CASES)
def test_catalogs_hold_no_stale_messages(domain: str, lang: str) -> None:
    wanted = {_key(message) for message in _extracted(domain) if message.id}
    stale = [_key(m) for m in _catalog(domain, lang) if m.id and _key(m) not in wanted]
    assert not stale, f"{domain}/{lang}: no longer in the code (run `make messages`): {stale}"


@pytest.mark.parametrize(("domain", "lang"), CASES)
def test_translations_keep_the_placeholders(domain: str, lang: str) -> None:
    for message in _catalog(domain, lang):
        if not message.id:
            continue
        source = {p for text in _strings(message.id) for p in PLACEHOLDER.findall(text)}
        forms = [set(PLACEHOLDER.findall(text)) for text in _strings(message.string)]
        if not forms:
            continue
        assert set().union(*forms) == source, (domain, lang, message.id, message.string)
        assert all(form <= source for form in forms), (domain, lang, message.id)


@pytest.mark.parametrize(("domain", "lang"), CASES)
def test_plural_forms_are_declared(domain: str, lang: str) -> None:
    assert _catalog(domain, lang).plural_forms == "nplurals=2; plural=(n != 1);"


@pytest.mark.parametrize("domain", i18n.DOMAINS)
def test_nynorsk_is_not_bokmaal_copied(domain: str) -> None:
    bokmaal = {_key(m): m.string for m in _catalog(domain, "nb") if m.id}
    # short labels ("Status", "Sum", "Last ned CSV") are often the same in both written
    # standards; a sentence of six words or more almost never is
    same = [
        key
        for message in _catalog(domain, "nn")
        if message.id and sum(any(c.isalpha() for c in w) for w in str(message.string).split()) >= 6
        for key in [_key(message)]
        if message.string == bokmaal.get(key)
    ]
    assert not same, f"{domain}: nynorsk identical to bokmål: {same}"


@pytest.mark.parametrize("domain", i18n.DOMAINS)
def test_nynorsk_says_maalaren_not_maaleren(domain: str) -> None:
    """Nynorsk says "målaren" (the meter): the module help and the mails said "måleren"."""
    found = [
        _key(message)
        for message in _catalog(domain, "nn")
        if message.id
        for text in _strings(message.string)
        if re.search(r"\bmåleren\b", text, re.IGNORECASE)
    ]
    assert not found, f"{domain}: bokmål 'måleren' in nynorsk: {found}"


def _write_catalog(root: Path, lang: str, messages: dict[str, str]) -> None:
    catalog = Catalog(locale=lang, domain="portal")
    for msgid, msgstr in messages.items():
        catalog.add(msgid, msgstr)
    path = i18n.catalog_path("portal", lang, ".po", root)
    path.parent.mkdir(parents=True)
    with path.open("wb") as target:
        write_po(target, catalog)


def test_nynorsk_falls_back_to_bokmaal_and_unknown_languages_get_bokmaal(tmp_path: Path) -> None:
    _write_catalog(tmp_path, "nb", {"Order": "Bestilling", "Meter": "Måler"})
    _write_catalog(tmp_path, "nn", {"Order": "Tinging"})
    nynorsk = i18n.load_translations("portal", "nn", tmp_path)
    assert nynorsk.gettext("Order") == "Tinging"
    assert nynorsk.gettext("Meter") == "Måler"  # missing in nynorsk: bokmål
    assert i18n.load_translations("portal", "xx", tmp_path).gettext("Order") == "Bestilling"


def test_a_missing_catalog_is_named(tmp_path: Path) -> None:
    with pytest.raises(i18n.CatalogMissing, match="portal"):
        i18n.load_translations("portal", "nb", tmp_path)


def test_the_compiled_catalogs_translate() -> None:
    for domain in i18n.DOMAINS:
        for lang in i18n.LANGS:
            assert i18n.translations(domain, lang) is i18n.translations(domain, lang)
    with pytest.raises(ValueError, match="unknown message domain"):
        i18n.translations("emulator", "nb")


def test_dates_are_written_the_local_way() -> None:
    assert i18n.format_date(date(2026, 12, 4), "nb") == "04.12.2026"
    assert i18n.format_date(date(2026, 12, 4), "nn") == "04.12.2026"
    assert i18n.format_date(date(2026, 12, 4), "en") == "4 December 2026"


MAIL_FIELDS: dict[str, object] = {
    "name": "Kari Nordmann",
    "mpid": "707057500000000017",
    "order_id": 41,
    "new_order_id": 42,
    "action": "open",
    "due": date(2026, 12, 4),
    "reason": "revoked",
    "code": "123456",
    "principal": "Ola Nordmann",
    "scope": "act",
    "valid_to": date(2027, 1, 31),
    "date": date(2026, 12, 1),
    "push_seen": False,
    "by_staff": True,
    "by": "Ola Nordmann",
    "staff": "Per Hansen",
    "why": "The customer called",
    "tracking_ref": "70701234567",
    "provider": "Varmestyring AS",
    "request_id": 7,
    "valid_from": date(2026, 12, 4),
    "expires": date(2026, 12, 18),
    "asked": date(2026, 11, 20),
}


@pytest.mark.parametrize("lang", [*i18n.LANGS, "both"])
def test_every_mail_renders_in_every_language(lang: str) -> None:
    from hanport.portal.services import notify

    for template in notify.TEMPLATES:
        subject, body = notify.render(template, lang, **MAIL_FIELDS)
        assert "{" not in subject + body and "\n" not in subject, (template, lang)
        # no secret in a subject line (it shows on lock screens and in relay logs)
        assert MAIL_FIELDS["code"] not in subject, (template, lang)
    code_mail = notify.render("signin_code", lang, **MAIL_FIELDS)
    assert MAIL_FIELDS["code"] in code_mail[1] and MAIL_FIELDS["code"] not in code_mail[0]
    if lang in ("nb", "nn"):
        assert "01.12.2026" in notify.render("moved_in", lang, **MAIL_FIELDS)[1]
    nynorsk = notify.render("cancelled", "nn", **MAIL_FIELDS)
    assert nynorsk[0] == "Bestilling 41 er avbroten"
    assert "om å opne HAN-porten" in nynorsk[1] and "av kundeservice" in nynorsk[1]
    english = notify.render("proxy_invited", "en", **MAIL_FIELDS)[1]
    assert "power of attorney (act)" in english and "31 January 2027" in english


def test_without_babel_the_compiled_catalog_serves_and_a_missing_one_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("compiler", ROOT / "scripts/compile_catalogs.py")
    assert spec and spec.loader
    compiler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compiler)
    _write_catalog(tmp_path, "nb", {"Order": "Bestilling"})
    assert len(compiler.compile_catalogs(tmp_path)) == 1
    # a wheel's install has no Babel; a .po that looks newer must not stop the .mo serving
    mo_path = i18n.catalog_path("portal", "nb", ".mo", tmp_path)
    later = mo_path.stat().st_mtime + 60
    os.utime(i18n.catalog_path("portal", "nb", ".po", tmp_path), (later, later))
    monkeypatch.setitem(sys.modules, "babel.messages.mofile", None)
    assert i18n.load_translations("portal", "nb", tmp_path).gettext("Order") == "Bestilling"
    mo_path.unlink()
    with pytest.raises(i18n.CatalogMissing, match="make catalogs"):
        i18n.load_translations("portal", "nb", tmp_path)
