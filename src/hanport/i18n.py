"""Message catalogs shared by the portal and the reader: gettext translations per domain and
language, with nynorsk falling back to bokmål.

The source language is English (msgids are English text). Catalogs live at
`src/hanport/<domain>/locale/<lang>/LC_MESSAGES/<domain>.po`; the build (`make catalogs`, the
wheel's build hook) compiles them to `.mo`. A tree where a `.po` is newer than its `.mo` (or has
none) is compiled in memory when Babel is installed, so a developer's edit shows at once.
"""

from __future__ import annotations

import gettext
import io
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Final

__all__ = [
    "DEFAULT_LANG",
    "DOMAINS",
    "LANGS",
    "NC_",
    "N_",
    "CatalogMissing",
    "catalog_path",
    "format_date",
    "format_datetime",
    "load_translations",
    "normalise_lang",
    "translations",
]

LANGS: Final = ("nb", "nn", "en")
DEFAULT_LANG: Final = "nb"
DOMAINS: Final = ("portal", "reader")
#: the language whose text stands in for a message missing in another Norwegian catalog
FALLBACK: Final = {"nn": "nb"}

_PACKAGE: Final = Path(__file__).parent
# Norwegian browsers send "no" as often as "nb"; "nn" is nynorsk.
_ALIASES: Final = {"nb": "nb", "no": "nb", "nn": "nn", "en": "en"}
_MONTHS_EN: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


class CatalogMissing(RuntimeError):
    """A catalog is absent, or only its .po is there and Babel is not installed to compile it."""


def N_(message: str) -> str:  # the name gettext extractors look for
    """Mark `message` for extraction; it is translated where it is shown."""
    return message


def normalise_lang(tag: str | None) -> str | None:
    """One of LANGS for a language tag (`nb-NO`, `no`, `nn`, `en-GB`, …), else None."""
    if not tag:
        return None
    return _ALIASES.get(tag.strip().lower().replace("_", "-").split("-")[0])


def catalog_path(domain: str, lang: str, suffix: str = ".mo", root: Path = _PACKAGE) -> Path:
    """Where a catalog is: `root` is the package directory (a test's copy in tests)."""
    return root / domain / "locale" / lang / "LC_MESSAGES" / f"{domain}{suffix}"


def _compiled_in_memory(po_path: Path) -> bytes | None:
    """The .po compiled with Babel, or None where Babel is not installed (a wheel's install)."""
    try:
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po
    except ImportError:
        return None
    with po_path.open("rb") as source:
        catalog = read_po(source)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    return compiled.getvalue()


def _load(domain: str, lang: str, root: Path) -> gettext.GNUTranslations:
    mo_path = catalog_path(domain, lang, ".mo", root)
    po_path = catalog_path(domain, lang, ".po", root)
    if not po_path.exists() and not mo_path.exists():
        raise CatalogMissing(f"no catalog for domain {domain!r} and language {lang!r}")
    # a .po edited after the last `make catalogs` is what a developer means to see
    if po_path.exists() and (
        not mo_path.exists() or mo_path.stat().st_mtime < po_path.stat().st_mtime
    ):
        compiled = _compiled_in_memory(po_path)
        if compiled is not None:
            return gettext.GNUTranslations(io.BytesIO(compiled))
        if not mo_path.exists():
            raise CatalogMissing(
                f"{mo_path} is missing: run `make catalogs` (or install Babel to compile "
                "catalogs when they are read)"
            )
    with mo_path.open("rb") as compiled_file:
        return gettext.GNUTranslations(compiled_file)


def load_translations(domain: str, lang: str, root: Path = _PACKAGE) -> gettext.NullTranslations:
    """The translations of `domain` into `lang` read afresh from the catalogs under `root`;
    an unknown language gets bokmål, and nynorsk falls back to bokmål message by message."""
    lang = lang if lang in LANGS else DEFAULT_LANG
    result = _load(domain, lang, root)
    if lang in FALLBACK:
        result.add_fallback(load_translations(domain, FALLBACK[lang], root))
    return result


@cache
def translations(domain: str, lang: str) -> gettext.NullTranslations:
    """The translations of `domain` ("portal" or "reader") into `lang`, read once."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown message domain {domain!r}; known: {', '.join(DOMAINS)}")
    return load_translations(domain, lang)


def format_date(day: date, lang: str) -> str:
    """A date as people write it: 04.12.2026 in Norwegian, 4 December 2026 in English."""
    if lang == "en":
        return f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"
    return day.strftime("%d.%m.%Y")


def format_datetime(moment: datetime, lang: str) -> str:
    """A local time as people write it: 04.12.2026 14:05, or 4 December 2026 14:05."""
    return f"{format_date(moment.date(), lang)} {moment:%H:%M}"


def NC_(context: str, message: str) -> tuple[str, str]:  # the name gettext extractors look for
    """Mark `message` with a `context` for extraction (`make messages` knows NC_ as
    pgettext); translate the pair later with `pgettext(*pair)`."""
    return context, message
