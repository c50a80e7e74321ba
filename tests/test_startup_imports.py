"""Commands load only what they use: a decode no database or web stack, a reader without HTTP
no web stack, a reader on a current database no Alembic (bench/startup.py has the times)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hanport.protocol import HanEncoder

WEB = {"fastapi", "starlette", "uvicorn"}
DATABASE = {"sqlalchemy", "alembic"}
VALUES = {
    "active_power_import_w": 1234,
    "active_power_export_w": 0,
    "reactive_power_import_var": 55,
    "reactive_power_export_var": 0,
    "current_l1_a": 5.81,
    "current_l2_a": 1.2,
    "current_l3_a": 0.5,
    "voltage_l1_v": 230,
    "voltage_l2_v": 231,
    "voltage_l3_v": 229,
}

_RUN_AND_LIST_MODULES = """
import sys
from hanport.cli import main
try:
    sys.exit(main(sys.argv[1:]))  # --help exits from argparse
finally:
    loaded = sorted({name.split(".")[0] for name in sys.modules})
    import json  # after the list: the command's own imports only

    print(json.dumps(loaded), file=sys.stderr)
"""


def _modules(*args: str) -> set[str]:
    """Top-level packages in ``sys.modules`` after ``hanport ARGS`` ran in a fresh interpreter."""
    result = subprocess.run(
        [sys.executable, "-c", _RUN_AND_LIST_MODULES, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stderr.strip().splitlines()[-1]))


def _capture(path: Path) -> Path:
    encoder = HanEncoder("Kamstrup", meter_id="5706567274389702", meter_type="6841121BN243101040")
    start = datetime(2025, 1, 1, tzinfo=ZoneInfo("Europe/Oslo"))
    frames = [
        encoder.encode("instantaneous", VALUES, start + timedelta(seconds=10 * i)) for i in range(3)
    ]
    path.write_bytes(b"".join(frames))
    return path


def test_decode_loads_no_database_or_web_stack(tmp_path: Path) -> None:
    capture = _capture(tmp_path / "capture.bin")
    for args in (["decode", "--help"], ["decode", str(capture)]):
        loaded = _modules(*args)
        assert "hanport" in loaded
        assert not loaded & (WEB | DATABASE), args


def test_decode_of_a_plain_capture_loads_only_the_core(tmp_path: Path) -> None:
    # no encoder, no encryption, no JSON library (templates write the text, compact_json the
    # first frame's; json would bring re and enum), no dataclasses or typing (the core's
    # classes are plain), no argparse (a plain command line), no P1 parser (decimal): the
    # start-up bench/decode.py measures
    loaded = _modules("decode", str(_capture(tmp_path / "capture.bin")))
    assert not loaded & {"cryptography", "orjson", "dataclasses", "typing", "inspect"}
    assert not loaded & {"argparse", "decimal", "gettext", "json", "re", "enum"}


def test_read_help_loads_no_database_or_web_stack() -> None:
    assert not _modules("read", "--help") & (WEB | DATABASE)


def test_reader_without_http_loads_no_web_stack_and_no_alembic_once_migrated(
    tmp_path: Path,
) -> None:
    capture = _capture(tmp_path / "capture.bin")
    read = ["read", "--no-http", "--file", str(capture), "--exit-when-done"]
    read += ["--db", str(tmp_path / "reader.sqlite3")]
    first = _modules(*read)  # creates the database: Alembic migrates it
    assert "alembic" in first
    assert not first & WEB
    again = _modules(*read)
    assert "sqlalchemy" in again
    assert not again & (WEB | {"alembic"})


def test_head_revision_is_alembics_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from hanport.reader.storage import database

    config = Config()
    config.set_main_option("script_location", str(database._MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == database.HEAD_REVISION
