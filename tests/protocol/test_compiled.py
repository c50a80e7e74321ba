"""Which build of the protocol core is loaded: mypyc-compiled modules or the Python fallback."""

from __future__ import annotations

import importlib
import os

from hanport.protocol import is_compiled

_DECODE_PATH = (
    "_stream",
    "_decode",
    "_template",
    "_template_cache",
    "_hdlc",
    "_crc",
    "_cosem",
    "_events",
    "lists",
    "lists.kamstrup",
)


def test_is_compiled_names_the_build_every_decode_module_comes_from() -> None:
    files = [importlib.import_module(f"hanport.protocol.{name}").__file__ for name in _DECODE_PATH]
    assert all(files)
    compiled = [not str(path).endswith(".py") for path in files]
    # a build is whole: every module of the decode path compiled, or none
    assert compiled == [is_compiled()] * len(files)


def test_the_build_the_run_expects_is_the_one_loaded() -> None:
    # The editable dev install is pure; tests/distribution runs these tests against the
    # compiled wheel with HANPORT_EXPECT_BUILD=compiled.
    expected = os.environ.get("HANPORT_EXPECT_BUILD", "pure")
    assert expected in ("pure", "compiled")
    assert is_compiled() == (expected == "compiled")
