"""Configuration precedence: TOML file < environment < flags; bad values get clear errors."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hanport.reader.energy import CapacityStep
from hanport.reader.settings import SettingsError, load_settings


def test_precedence_file_env_flags(tmp_path: Path) -> None:
    config = tmp_path / "reader.toml"
    config.write_text(
        'db = "sqlite:///from-file.db"\n'
        '[http]\nport = 9000\nhost = "0.0.0.0"\n'
        '[mqtt]\nhost = "broker.local"\nport = 1884\n'
        '[tariff]\nsteps = [[0, 5, 100], [5, "inf", 900]]\n'
    )
    env = {"HANPORT_HTTP_PORT": "9100", "HANPORT_MQTT_HOST": "env-broker"}
    settings = load_settings({"mqtt_host": "flag-broker", "http_port": None}, config=str(config),
                             environ=env)  # fmt: skip
    assert settings.db == "sqlite:///from-file.db"  # file only
    assert settings.http_host == "0.0.0.0"
    assert settings.http_port == 9100  # env beats file; an absent flag changes nothing
    assert settings.mqtt_host == "flag-broker"  # flag beats env
    assert settings.mqtt_port == 1884
    assert settings.tariff_steps == (CapacityStep(0, 5, 100), CapacityStep(5, None, 900))


def test_defaults_without_file(tmp_path: Path) -> None:
    settings = load_settings({}, environ={"XDG_CONFIG_HOME": str(tmp_path)})
    assert settings.http_port == 8080 and settings.serial_settings == "auto"
    assert settings.tariff_steps[0].from_kw == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[http]\nport = "eighty"\n', "invalid value"),
        ("[tariff]\nsteps = [[0, 2, 100], [3, 5, 200]]\n", "gap"),
        ("db = \n", "invalid TOML"),
    ],
)
def test_bad_configuration_is_explained(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(SettingsError, match=message):
        load_settings({}, config=str(config), environ={})


def test_missing_file_is_explained(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read the configuration"):
        load_settings({}, config=str(tmp_path / "nope.toml"), environ={})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[mqtt]\nhots = 'broker'\n", "unknown setting mqtt.hots"),
        ("colour = 'blue'\n", "unknown setting colour"),
        ("[retention]\nreadings_days = -5\n", "readings_days: -5"),
        ("[mqtt]\nport = 70000\n", "mqtt_port: 70000"),
        ("[http]\nport = 99999\n", "http_port: 99999"),
    ],
)
def test_unknown_keys_and_values_out_of_range_are_refused(
    tmp_path: Path, text: str, message: str
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(SettingsError, match=message):
        load_settings({}, config=str(config), environ={})


def test_a_config_file_that_is_not_utf8_is_explained(tmp_path: Path) -> None:
    config = tmp_path / "latin1.toml"
    config.write_bytes('db = "målinger.db"\n'.encode("latin-1"))
    with pytest.raises(SettingsError, match="not UTF-8"):
        load_settings({}, config=str(config), environ={})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--db", "foo://bar"], "cannot use the database: Can't load plugin"),
        (["--db", "/proc/x.db"], "cannot use the database: unable to open database file"),
        (["--port", "99999"], "http_port: 99999"),
        (["--mqtt-port", "70000"], "mqtt_port: 70000"),
    ],
)
def test_hanport_read_refuses_bad_input_with_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """A clear line on stderr and exit status 2, never a traceback."""
    config = tmp_path / "empty.toml"
    config.write_text("")
    command = [sys.executable, "-m", "hanport.cli", "read", "--tcp", "127.0.0.1:1",
               "--db", str(tmp_path / "r.db"), "--config", str(config), *args]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


def _read_with_config(
    tmp_path: Path, config: bytes, preexec_fn: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "reader.toml"
    path.write_bytes(config)
    command = [sys.executable, "-m", "hanport.cli", "read", "--tcp", "127.0.0.1:1", "--no-http",
               "--db", str(tmp_path / "r.db"), "--config", str(path)]  # fmt: skip
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, check=False, preexec_fn=preexec_fn
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('db = "målinger.db"\n'.encode("latin-1"), "not UTF-8 (byte 7)"),
        (b"[mqtt]\nhots = 'broker'\n", "unknown setting mqtt.hots"),
        (b"[retention]\nreadings_days = -5\n", "readings_days: -5"),
        (b"[mqtt]\nhost = 'localhost'\nport = 70000\n", "mqtt_port: 70000"),
    ],
)
def test_hanport_read_refuses_a_bad_config_file_with_exit_2(
    tmp_path: Path, config: bytes, message: str
) -> None:
    done = _read_with_config(tmp_path, config)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "r.db").exists()  # refused before anything is touched


def _no_room_to_grow() -> None:
    """In the child: the file system refuses to grow any file, as a full disk does (the write
    fails instead of the process being killed by SIGXFSZ)."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


def test_hanport_read_on_a_full_disk_at_start_exits_2(tmp_path: Path) -> None:
    done = _read_with_config(tmp_path, b"", preexec_fn=_no_room_to_grow)
    assert done.returncode == 2, done.stderr
    assert "cannot use the database: " in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1  # one line saying why


def test_the_readmes_cost_settings_load_as_written(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    anchor = readme.index('company = "elvia-2026"')
    block = readme[
        readme.rindex("```toml", 0, anchor) + len("```toml") : readme.index("```", anchor)
    ]
    config = tmp_path / "reader.toml"
    config.write_text(block.replace("/var/backups/hanport", str(tmp_path)), encoding="utf-8")
    settings = load_settings({}, config=config, environ={})
    assert (settings.tariff_company, settings.prices_zone, settings.fuse_amps) == (
        "elvia-2026",
        "NO1",
        63.0,
    )
    assert settings.backup_dir is not None and settings.load_shed_webhook is not None
