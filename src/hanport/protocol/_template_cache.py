"""Compiled templates found by their layout's key, kept in least-recently-used order.

A template's key is its layout: the ``struct`` format (where the variable fields are) and the
bytes of its fixed fields (tags, lengths, OBIS codes, scalers). Templates are grouped by APDU
length and manufacturer hint, then by format: a frame is unpacked once per format of its length
(one, unless two lists happen to have the same length) and its fixed fields find the template in
a dict. Templates with the same layout differ only in what the lists decided from the identity
texts (a CT meter's type), and are tried in turn.
"""

from __future__ import annotations

from collections import OrderedDict

from ._events import Reading
from ._template import Template

TYPE_CHECKING = False  # typing is not imported at run time (start-up of `hanport decode`)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["TemplateCache"]

#: failed compilations per (length, hint) after which that length is left to the general path
_MAX_FAILURES = 16
_MAX_FAILURE_KEYS = 1024


class _Format:
    """Templates that share one ``struct`` format, by the bytes of their fixed fields."""

    __slots__ = (
        "by_constants",
        "constant_indexes",
        "get_constants",
        "last_constants",
        "last_templates",
        "layout",
    )

    def __init__(self, template: Template) -> None:
        self.layout = template.layout
        self.constant_indexes = template.constant_indexes
        self.get_constants = template.get_constants
        self.by_constants: dict[Any, list[Template]] = {}
        self.forget_last()

    def forget_last(self) -> None:
        # The fixed fields found last: the next frame of a stream has the same, and comparing
        # them costs less than hashing them for the dict (new bytes objects each frame)
        self.last_constants: object = None
        self.last_templates: list[Template] = []


GroupKey = tuple[int, str | None]


class TemplateCache:
    """At most ``capacity`` templates; the one used longest ago goes first."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._groups: dict[GroupKey, list[_Format]] = {}
        self._used: OrderedDict[Template, tuple[GroupKey, _Format]] = OrderedDict()
        self._failures: dict[GroupKey, int] = {}
        #: the group ``find_json`` took last, and the template it used last (already the most
        #: recently used): a stream repeats both frame after frame
        self._last_key: GroupKey | None = None
        self._last_formats: list[_Format] = []
        self._last_used: Template | None = None

    def __len__(self) -> int:
        return len(self._used)

    def find(
        self,
        apdu: bytes,
        hint: str | None,
        frame: bytes = b"",
        offset: int = 0,
        frame_counter: int | None = None,
        system_title: bytes | None = None,
    ) -> Reading | None:
        """The reading of ``apdu`` (in ``frame``) decoded by the template of its layout, or
        None when no template has its layout."""
        formats = self._groups.get((len(apdu), hint))
        if formats is None:
            return None
        for entry in formats:
            unpacked = entry.layout.unpack(apdu)
            constants = entry.get_constants(unpacked)
            if constants == entry.last_constants:
                templates = entry.last_templates
            else:
                found = entry.by_constants.get(constants)
                if found is None:
                    continue
                templates = entry.last_templates = found
                entry.last_constants = constants
            for template in templates:
                reading = template.reading(
                    unpacked, frame or apdu, offset, frame_counter, system_title
                )
                if reading is not None:
                    self._used.move_to_end(template)
                    self._last_used = template
                    return reading
        return None

    def find_json(self, buffer: bytearray, at: int, size: int, hint: str | None) -> str | None:
        """``find(apdu, hint).to_json_text()`` of the APDU at ``buffer[at : at + size]``, read
        in place: the text straight from the template, no reading made; None when no template
        has its layout (as ``find``)."""
        last = self._last_key
        if last is not None and last[0] == size and last[1] == hint:
            formats = self._last_formats
        else:
            key = (size, hint)
            found_formats = self._groups.get(key)
            if found_formats is None:
                return None
            formats = self._last_formats = found_formats
            self._last_key = key
        for entry in formats:
            unpacked = entry.layout.unpack_from(buffer, at)
            constants = entry.get_constants(unpacked)
            if constants == entry.last_constants:
                templates = entry.last_templates
            else:
                found = entry.by_constants.get(constants)
                if found is None:
                    continue
                templates = entry.last_templates = found
                entry.last_constants = constants
            for template in templates:
                text = template.json_of(unpacked)
                if text is not None:
                    if template is not self._last_used:
                        self._used.move_to_end(template)
                        self._last_used = template
                    return text
        return None

    def worth_compiling(self, apdu: bytes, hint: str | None) -> bool:
        """False once layouts of this length have failed to compile too often."""
        return self.capacity > 0 and self._failures.get((len(apdu), hint), 0) < _MAX_FAILURES

    def failed(self, apdu: bytes, hint: str | None) -> None:
        if len(self._failures) >= _MAX_FAILURE_KEYS:
            self._failures.clear()
        key = (len(apdu), hint)
        self._failures[key] = self._failures.get(key, 0) + 1

    def add(self, template: Template, hint: str | None) -> None:
        key = (template.layout.size, hint)
        formats = self._groups.setdefault(key, [])
        entry = next(
            (
                f
                for f in formats
                if f.layout.format == template.layout.format
                and f.constant_indexes == template.constant_indexes
            ),
            None,
        )
        if entry is None:
            entry = _Format(template)
            formats.append(entry)
        entry.by_constants.setdefault(template.constants, []).append(template)
        self._used[template] = (key, entry)
        self._last_used = template
        self._last_key = None  # a new format may join the group
        while len(self._used) > self.capacity:
            self._evict()

    def _evict(self) -> None:
        template, (key, entry) = self._used.popitem(last=False)
        self._last_key = None
        if template is self._last_used:
            self._last_used = None
        entry.forget_last()
        siblings = entry.by_constants[template.constants]
        siblings.remove(template)
        if not siblings:
            del entry.by_constants[template.constants]
        if not entry.by_constants:
            formats = self._groups[key]
            formats.remove(entry)
            if not formats:
                del self._groups[key]
