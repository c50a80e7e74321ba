"""Timeline notes and head-end commands in the page's language (see domain.notes).

A coded note is worded from its code and values; typed text is shown as typed; a stored text
the service did not write (or a code unknown here) is shown as it is, so nothing is hidden.
"""

from __future__ import annotations

import re
from gettext import NullTranslations
from typing import Any, Final

from hanport.i18n import NC_
from hanport.portal.domain.notes import cause_of_error, parsed

__all__ = ["command_detail", "note_text"]

Names = dict[str, dict[str, tuple[str, str]]]

_TEXTS: Final = {
    "submitted": NC_("timeline note", "{channel}, ordered as {access}"),
    "superseded_by": NC_("timeline note", "Replaced by order {order}"),
    "failure": NC_("timeline note", "{cause} – the meter must be replaced"),
    "taken_over": NC_(
        "timeline note",
        "The read-back verified the port open; order {order} took over before the meter's "
        "first push",
    ),
    "no_push": NC_(
        "timeline note",
        "No data seen from the meter within {seconds} s of the read-back; the read-back "
        "verified the port open, a later push will be recorded",
    ),
    "command_accepted": NC_(
        "timeline note", "The head-end system accepted the command (port: {port})"
    ),
    "retry": NC_("timeline note", "{cause}; attempt {attempts}, next in {seconds} s"),
    "read_back": NC_("timeline note", "Read back from the meter: {port}"),
}
_CANCELLED: Final = {
    "staff": NC_("timeline note", "Cancelled by customer service"),
    "customer": NC_("timeline note", "Cancelled by the customer"),
}
_DONE: Final = {
    True: NC_("timeline note", "Data seen from the meter; done notice queued for the customer"),
    False: NC_("timeline note", "Done notice queued for the customer"),
}


def _word(catalog: NullTranslations, names: Names, kind: str, code: object) -> str:
    entry = names[kind].get(str(code))
    return catalog.pgettext(*entry) if entry else str(code)


def _plural(catalog: NullTranslations, data: dict[str, Any], names: Names) -> str | None:
    """The notes with a count in them."""
    code = data["code"]
    if code == "gave_up":
        attempts = int(data.get("attempts") or 0)
        text = catalog.npgettext(
            "timeline note",
            "{cause} after {attempts} attempt; handed to customer service",
            "{cause} after {attempts} attempts; handed to customer service",
            attempts,
        )
        cause = _word(catalog, names, "failure_cause", data.get("cause"))
        return text.format(cause=cause, attempts=attempts)
    if code == "read_back" and data.get("pushes") is not None:
        pushes = int(data["pushes"])
        text = catalog.npgettext(
            "timeline note",
            "Read back from the meter: {port}; data seen {pushes} time",
            "Read back from the meter: {port}; data seen {pushes} times",
            pushes,
        )
        return text.format(port=_word(catalog, names, "port", data.get("port")), pushes=pushes)
    return None


def _worded(catalog: NullTranslations, names: Names, data: dict[str, Any]) -> str | None:
    code = data["code"]
    if code == "cancelled_by" and data.get("by") in _CANCELLED:
        return catalog.pgettext(*_CANCELLED[data["by"]])
    if code == "done":
        return catalog.pgettext(*_DONE[bool(data.get("push_seen"))])
    if code == "attempt_failed":
        return _word(catalog, names, "failure_cause", data.get("cause"))
    if (text := _plural(catalog, data, names)) is not None:
        return text
    entry = _TEXTS.get(code)
    if entry is None:
        return None

    def word(kind: str, key: str) -> str:
        return _word(catalog, names, kind, data.get(key))

    seconds = data.get("wait_s", data.get("next_s"))
    return catalog.pgettext(*entry).format(
        channel=word("channel", "channel"),
        access=word("access", "access"),
        order=data.get("order"),
        cause=word("failure_cause", "cause"),
        seconds=f"{float(seconds):g}" if seconds is not None else "",
        attempts=data.get("attempts"),
        port=word("port", "port"),
    )


def note_text(catalog: NullTranslations, names: Names, note: str) -> str:
    """The stored note as a line in the catalog's language."""
    data = parsed(note)
    if data is None:
        return note
    if "code" not in data:
        return str(data.get("text", ""))
    try:
        worded = _worded(catalog, names, data)
    except (KeyError, TypeError, ValueError):
        worded = None  # values not as the code has them: shown as stored
    return note if worded is None else worded


_READBACK: Final = re.compile(r"port=(\w+) pushes_since_change=(\d+)")
_PORT_TEXT: Final = NC_("head-end command", "Port: {port}, data seen since the change: {pushes}")


def command_detail(catalog: NullTranslations, names: Names, ok: bool, detail: str) -> str:
    """A head-end command's result in words: the port read back, or what went wrong (the
    head-end's own words stay behind the page's toggle)."""
    if ok:
        match = _READBACK.fullmatch(detail)
        if match is None:
            return detail
        port = _word(catalog, names, "port", match[1])
        return catalog.pgettext(*_PORT_TEXT).format(port=port, pushes=int(match[2]))
    return _word(catalog, names, "failure_cause", cause_of_error(detail))
