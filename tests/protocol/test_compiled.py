"""Which build of the protocol core is loaded: mypyc-compiled modules or the Python fallback."""

from __future__ import annotations

import importlib

from hanport.protocol import is_compiled

_DECODE_PATH = ("_stream", "_decode", "_template", "_template_cache", "_hdlc", "_crc")


def test_is_compiled_names_the_build_every_decode_module_comes_from() -> None:
    files = [importlib.import_module(f"hanport.protocol.{name}").__file__ for name in _DECODE_PATH]
    assert all(files)
    compiled = [not str(path).endswith(".py") for path in files]
    # a build is whole: every module of the decode path compiled, or none
    assert compiled == [is_compiled()] * len(files)
