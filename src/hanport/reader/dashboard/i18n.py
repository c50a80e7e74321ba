"""The dashboard's language: the choice for a request, and templates and script texts in it.

The language comes from the `hanport_lang` cookie (set by the switch in the header) and otherwise
from the browser's Accept-Language; bokmål is the default because the meters are Norwegian. The
texts themselves are in the "reader" message catalogs (src/hanport/reader/locale).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Final

from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from hanport.i18n import DEFAULT_LANG, LANGS, N_, normalise_lang, translations

LANGUAGES: Final = LANGS
DEFAULT_LANGUAGE: Final = DEFAULT_LANG
COOKIE_NAME: Final = "hanport_lang"
#: each language named in itself, for the switch
LANGUAGE_NAMES: Final = {"nb": "Bokmål", "nn": "Nynorsk", "en": "English"}
TEMPLATE_DIR: Final = Path(__file__).parent / "templates"

#: texts the page's scripts show, by the key they use (`T.load_error` in common.js)
SCRIPT_TEXTS: Final = {
    "load_error": N_("Could not fetch data from the reader"),
    "no_meter": N_("No meter seen yet. Check that the reader receives data (Health)."),
    "no_peaks_yet": N_("No hours this month yet."),
    "no_issues": N_("No issues."),
    "conn_connecting": N_("Connecting …"),
    "conn_live": N_("Live"),
    "conn_stale": N_("No new readings"),
    "conn_lost": N_("Disconnected – retrying"),
    "conn_stored": N_("No live source – showing stored data"),
    # {time}: HH:MM the latest reading arrived (replaced by now.js)
    "no_data_since": N_("No data since {time}"),
    # {kwh}: energy with its unit; {minutes}: a whole number (replaced by now.js)
    "budget_left_minutes": N_("{kwh} left this hour – {minutes} minutes at the current power"),
    "budget_left": N_("{kwh} left this hour"),
    "budget_over": N_("{kwh} over this hour's limit"),
    # a tariff whose own capacity rule decides which hours count (/api/budget `reason`);
    # {from}, {to}: whole local hours, e.g. 07 and 19 (replaced by now.js)
    "budget_not_counted_outside_window": N_(
        "This hour does not count toward the capacity charge: only {from}–{to} counts."
    ),
    "budget_not_counted_weekend": N_(
        "This hour does not count toward the capacity charge: weekends do not count."
    ),
    "budget_not_counted_holiday": N_(
        "This hour does not count toward the capacity charge: holidays do not count."
    ),
    # {from}, {to}: HH:MM (replaced by now.js)
    "budget_quarter": N_(
        "Limit for the quarter-hour {from}–{to}, estimated from the meter's power."
    ),
    # {count}: a whole number (replaced by now.js)
    "budget_fewer": N_(
        "Fewer than {count} counted days this month so far: every kWh above the limit raises "
        "the capacity charge."
    ),
    # {cost}: an amount with its currency, e.g. "36,00 SEK" (replaced by now.js)
    "budget_over_cost": N_("Each kWh above the limit adds {cost} a month."),
    "compare_day": N_("Previous day"),
    "compare_month": N_("Previous month"),
    "compare_year": N_("Previous year"),
    # the History page's change row when the earlier period lacks data for the matching times;
    # {have} and {want}: whole numbers (replaced by history.js)
    "not_comparable_day": N_(
        "not comparable: the earlier period has data for {have} of {want} hours"
    ),
    "not_comparable_month": N_(
        "not comparable: the earlier period has data for {have} of {want} days"
    ),
    "not_comparable_year": N_(
        "not comparable: the earlier period has data for {have} of {want} months"
    ),
    "time": N_("Time"),
    "hour": N_("Hour"),
    "day": N_("Day"),
    "month": N_("Month"),
    "import": N_("Import"),
    "export": N_("Export"),
    "estimated": N_("estimated"),
    "database": N_("Database"),
    "mqtt": "MQTT",
    "ok": N_("OK"),
    "rejected": N_("Rejected"),
    "nok_month": N_("NOK/month"),
    "nok": N_("NOK"),
    # the month's capacity charge by the chosen tariff's own rule: "{kw} kW: {charge} {currency}"
    "by_rule_estimate": N_("(estimated from quarter-hours)"),
    # {count}: a whole number of hours (replaced by today.js)
    "hours_without_price": N_("{count} hours without a price"),
    "one_hour_without_price": N_("1 hour without a price"),
    # the level of a health issue
    "level_info": N_("Info"),
    "level_warning": N_("Warning"),
    "level_error": N_("Error"),
    # the Health page's prices card
    "never": N_("Never"),
    "tomorrow_published": N_("Published"),
    "tomorrow_not_yet": N_("Not published yet (usually about 13:00)"),
    # TRANSLATORS: the twelve months, abbreviated, comma-separated, no spaces
    "months_short": N_("Jan,Feb,Mar,Apr,May,Jun,Jul,Aug,Sep,Oct,Nov,Dec"),
}


def choose_language(cookie: str | None, accept_language: str | None) -> str:
    """The cookie wins; otherwise the Accept-Language entry with the highest q we speak."""
    chosen = normalise_lang(cookie)
    if chosen:
        return chosen
    best_quality, best_language = 0.0, DEFAULT_LANGUAGE
    for entry in (accept_language or "").split(","):
        tag, _, params = entry.partition(";")
        language = normalise_lang(tag)
        if language is None:
            continue
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                continue
        # Strictly greater: the header lists preferences in order, so earlier entries win ties.
        if quality > best_quality:
            best_quality, best_language = quality, language
    return best_language


@cache
def templates(language: str) -> Jinja2Templates:
    """The page templates with gettext bound to `language`: one environment per language, so
    concurrent requests in different languages never share a translator."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.policies["ext.i18n.trimmed"] = True  # as babel-reader.cfg extracts them
    env.install_gettext_translations(  # type: ignore[attr-defined]  # added by the extension
        translations("reader", language), newstyle=True
    )
    return Jinja2Templates(env=env)


def script_texts(language: str) -> dict[str, str]:
    """SCRIPT_TEXTS in `language`, for the page to hand to its scripts."""
    catalog = translations("reader", language)
    return {key: catalog.gettext(text) for key, text in SCRIPT_TEXTS.items()}
