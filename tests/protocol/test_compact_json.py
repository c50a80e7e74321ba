"""compact_json writes what the standard library writes (``ensure_ascii=False``, compact
separators): a reading's flat object itself, anything else through ``json``."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from hanport.protocol import HanStream, Reading, compact_json

from .test_template import fleet_frames

standard = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

_SCALARS = st.one_of(
    st.text(),  # any code point: quotes, control characters, non-ASCII, lone surrogates
    st.integers(),
    st.floats(),  # nan and infinities too
    st.booleans(),
    st.none(),
)
_VALUES = st.recursive(
    _SCALARS, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=8
)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.text(), _VALUES))
def test_compact_json_writes_what_the_standard_library_writes(document: dict) -> None:
    assert compact_json(document) == standard(document)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.one_of(st.integers(), st.floats(), st.booleans(), st.none()), _SCALARS))
def test_keys_that_are_not_texts_are_written_as_json_writes_them(document: dict) -> None:
    assert compact_json(document) == standard(document)


@settings(max_examples=60, deadline=None)
@given(fleet_frames())
def test_a_general_path_reading_is_written_as_json_writes_it(frames: list[bytes]) -> None:
    # a fresh stream per frame: every reading from the general path, none from a template
    for frame in frames:
        (reading,) = HanStream().feed(frame)
        assert isinstance(reading, Reading)
        assert reading.to_json_text() == standard(reading.to_json())
