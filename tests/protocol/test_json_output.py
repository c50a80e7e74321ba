"""`hanport decode` writes readings with orjson when it is installed, else with the standard
library: the same JSON values either way."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings

from hanport.decode import _json_encoder
from hanport.protocol import HanStream, Reading

from .test_template import fleet_frames

pytest.importorskip("orjson")


@settings(max_examples=60, deadline=None)
@given(fleet_frames())
def test_orjson_and_the_standard_library_write_the_same_values(frames: list[bytes]) -> None:
    readings = [e for e in HanStream().feed(b"".join(frames)) if isinstance(e, Reading)]
    fast = _json_encoder()
    standard = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for reading in readings:
        document = reading.to_json()
        assert json.loads(fast(document)) == json.loads(standard(document)) == document
