"""Dashboard texts in bokmål and English, and the choice of language for a request.

The language comes from the `hanport_lang` cookie (set by the switch in the header) and otherwise
from the browser's Accept-Language; bokmål is the default because the meters are Norwegian.
"""

from __future__ import annotations

from typing import Final

LANGUAGES: Final = ("nb", "en")
DEFAULT_LANGUAGE: Final = "nb"
COOKIE_NAME: Final = "hanport_lang"

# Norwegian browsers often send "no" or "nn" rather than "nb"; all of them read bokmål.
_ALIASES: Final = {"nb": "nb", "no": "nb", "nn": "nb", "en": "en"}

TEXTS: Final[dict[str, dict[str, str]]] = {
    "nb": {
        "app_name": "hanport",
        "nav_now": "Nå",
        "nav_today": "I dag",
        "nav_history": "Historikk",
        "nav_health": "Helse",
        "language_switch": "English",
        "meter": "Måler",
        "meter_id": "Måler-ID",
        "meter_clock": "Målerens klokke",
        "received_at": "Mottatt",
        "connection": "Tilkobling",
        "conn_connecting": "Kobler til …",
        "conn_live": "Direkte",
        "conn_stale": "Ingen nye målinger",
        "conn_lost": "Frakoblet – prøver igjen",
        "conn_stored": "Ingen direktekilde – viser lagrede data",
        "no_data": "Ingen data ennå",
        "no_hours_yet": "Ingen hele timer registrert i denne perioden ennå.",
        "no_peaks_yet": "Ingen timer denne måneden ennå.",
        "no_meter": "Ingen måler er sett ennå. Sjekk at leseren får data (Helse).",
        "import_power": "Forbruk nå",
        "export_power": "Eksport nå",
        "recent_power": "Effekt siste minutter",
        "phases": "Faser",
        "phase": "Fase",
        "voltage": "Spenning",
        "current": "Strøm",
        "power": "Effekt",
        "this_hour": "Denne timen",
        "so_far": "Så langt",
        "projection": "Prognose for timen",
        "threshold": "Grense denne timen",
        "headroom": "Snitt kan øke med",
        "tariff_warning": (
            "Advarsel: med dette forbruket går månedens kapasitetstrinn opp. Skru ned forbruket "
            "før timen er omme."
        ),
        "tariff_ok": "Under terskelen for månedens trinn.",
        "last_hour": "Forrige time",
        "consumption": "Forbruk",
        "export": "Eksport",
        "import": "Import",
        "today_hours": "Timeforbruk i dag",
        "import_up_export_down": "Import opp, eksport ned (kWh)",
        "month_peaks": "Månedens tre høyeste timer (ulike dager)",
        "peak_hour": "Time",
        "average": "Snitt",
        "step": "Kapasitetstrinn",
        "step_price": "Pris per måned",
        "next_step": "Neste trinn",
        "show_table": "Vis som tabell",
        "hour": "Time",
        "time": "Tid",
        "day": "Dag",
        "month": "Måned",
        "year": "År",
        "previous": "Forrige",
        "next": "Neste",
        "today": "I dag",
        "history": "Historikk",
        "compare_day": "Dagen før",
        "compare_month": "Måneden før",
        "compare_year": "Året før",
        "total": "Sum",
        "change": "Endring (samme tidsrom)",
        "estimated": "estimert",
        "voltage_day": "Spenning per fase",
        "download_csv": "Last ned CSV",
        "download_voltage_csv": "Last ned spenning (CSV)",
        "health": "Helse",
        "sources": "Kilder",
        "source": "Kilde",
        "kind": "Type",
        "state": "Tilstand",
        "frames_per_s": "Rammer/s",
        "frames_ok": "Rammer OK",
        "crc_errors": "CRC-feil",
        "undecodable": "Kan ikke dekodes",
        "last_frame_at": "Siste ramme",
        "issues": "Avvik",
        "no_issues": "Ingen avvik.",
        "database": "Database",
        "mqtt": "MQTT",
        "recent_frames": "Siste rå rammer (hex)",
        "ok": "OK",
        "rejected": "Avvist",
        "reason": "Årsak",
        "load_error": "Kunne ikke hente data fra leseren",
        "assets_missing": "Grafbiblioteket mangler, så diagrammene vises ikke. Kjør",
        "choose_day": "Velg dag",
        "kwh": "kWh",
        "kw": "kW",
        "nok_month": "kr/mnd",
        "months_short": "jan,feb,mar,apr,mai,jun,jul,aug,sep,okt,nov,des",
    },
    "en": {
        "app_name": "hanport",
        "nav_now": "Now",
        "nav_today": "Today",
        "nav_history": "History",
        "nav_health": "Health",
        "language_switch": "Norsk",
        "meter": "Meter",
        "meter_id": "Meter ID",
        "meter_clock": "Meter clock",
        "received_at": "Received",
        "connection": "Connection",
        "conn_connecting": "Connecting …",
        "conn_live": "Live",
        "conn_stale": "No new readings",
        "conn_lost": "Disconnected – retrying",
        "conn_stored": "No live source – showing stored data",
        "no_data": "No data yet",
        "no_hours_yet": "No whole hours recorded in this period yet.",
        "no_peaks_yet": "No hours this month yet.",
        "no_meter": "No meter seen yet. Check that the reader receives data (Health).",
        "import_power": "Import now",
        "export_power": "Export now",
        "recent_power": "Power, last minutes",
        "phases": "Phases",
        "phase": "Phase",
        "voltage": "Voltage",
        "current": "Current",
        "power": "Power",
        "this_hour": "This hour",
        "so_far": "So far",
        "projection": "Projected for the hour",
        "threshold": "Limit for this hour",
        "headroom": "Average may rise by",
        "tariff_warning": (
            "Warning: at this rate the month's capacity step goes up. Reduce consumption before "
            "the hour ends."
        ),
        "tariff_ok": "Below the threshold of the month's step.",
        "last_hour": "Last hour",
        "consumption": "Consumption",
        "export": "Export",
        "import": "Import",
        "today_hours": "Today by the hour",
        "import_up_export_down": "Import up, export down (kWh)",
        "month_peaks": "The month's three highest hours (different days)",
        "peak_hour": "Hour",
        "average": "Average",
        "step": "Capacity step",
        "step_price": "Price per month",
        "next_step": "Next step",
        "show_table": "Show as table",
        "hour": "Hour",
        "time": "Time",
        "day": "Day",
        "month": "Month",
        "year": "Year",
        "previous": "Previous",
        "next": "Next",
        "today": "Today",
        "history": "History",
        "compare_day": "Previous day",
        "compare_month": "Previous month",
        "compare_year": "Previous year",
        "total": "Total",
        "change": "Change (matching times)",
        "estimated": "estimated",
        "voltage_day": "Voltage per phase",
        "download_csv": "Download CSV",
        "download_voltage_csv": "Download voltage (CSV)",
        "health": "Health",
        "sources": "Sources",
        "source": "Source",
        "kind": "Kind",
        "state": "State",
        "frames_per_s": "Frames/s",
        "frames_ok": "Frames OK",
        "crc_errors": "CRC errors",
        "undecodable": "Undecodable",
        "last_frame_at": "Last frame",
        "issues": "Issues",
        "no_issues": "No issues.",
        "database": "Database",
        "mqtt": "MQTT",
        "recent_frames": "Last raw frames (hex)",
        "ok": "OK",
        "rejected": "Rejected",
        "reason": "Reason",
        "load_error": "Could not fetch data from the reader",
        "assets_missing": "The chart library is missing, so charts are not shown. Run",
        "choose_day": "Choose day",
        "kwh": "kWh",
        "kw": "kW",
        "nok_month": "NOK/month",
        "months_short": "Jan,Feb,Mar,Apr,May,Jun,Jul,Aug,Sep,Oct,Nov,Dec",
    },
}


def normalise(code: str | None) -> str | None:
    """Map a language tag (`nb-NO`, `no`, `en-GB`, …) to one of LANGUAGES, or None."""
    if not code:
        return None
    return _ALIASES.get(code.strip().lower().split("-")[0])


def choose_language(cookie: str | None, accept_language: str | None) -> str:
    """The cookie wins; otherwise the Accept-Language entry with the highest q we speak."""
    chosen = normalise(cookie)
    if chosen:
        return chosen
    best_quality, best_language = 0.0, DEFAULT_LANGUAGE
    for entry in (accept_language or "").split(","):
        tag, _, params = entry.partition(";")
        language = normalise(tag)
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
