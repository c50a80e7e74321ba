"""A private Mosquitto broker on a free loopback port."""

from __future__ import annotations

import shutil
import subprocess
from typing import NamedTuple

from .ports import LOOPBACK, ServiceStartError, free_port, wait_for_port
from .processes import (
    die_with_parent,
    read_log,
    require_executable,
    service_directory,
    stop_process,
)

__all__ = ["MOSQUITTO", "MosquittoBroker", "MqttAddress"]

MOSQUITTO = "/usr/sbin/mosquitto"


class MqttAddress(NamedTuple):
    """Where the broker listens; unpacks as ``host, port = mosquitto``."""

    host: str
    port: int

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


class MosquittoBroker:
    """Runs ``mosquitto -c <generated config>`` until ``stop()``.

    Anonymous access, no persistence, log to a file in the temporary directory (shown in the
    error when the broker does not come up).
    """

    def __init__(self, executable: str = MOSQUITTO) -> None:
        self.executable = executable
        self.directory = service_directory("mosquitto")
        self.log_path = self.directory / "mosquitto.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.address: MqttAddress | None = None

    def start(self, attempts: int = 3) -> MqttAddress:
        executable = require_executable(self.executable, "mosquitto")
        error: ServiceStartError | None = None
        for _ in range(attempts):
            port = free_port()
            config = self.directory / "mosquitto.conf"
            # `user root` keeps the broker from switching to the `mosquitto` user when the tests
            # run as root (CI); nothing is written except the log on stderr.
            config.write_text(
                f"listener {port} {LOOPBACK}\n"
                "allow_anonymous true\n"
                "persistence false\n"
                "log_dest stderr\n"
                "log_type error\nlog_type warning\nlog_type notice\n"
                "user root\n"
            )
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    [*die_with_parent(), executable, "-c", str(config)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            try:
                wait_for_port(LOOPBACK, port, timeout=10, process=self.process, what="mosquitto")
            except ServiceStartError as exc:
                # Most likely another process took the port between free_port() and bind.
                stop_process(self.process)
                error = ServiceStartError(f"{exc}\n{read_log(self.log_path)}")
                continue
            self.address = MqttAddress(LOOPBACK, port)
            return self.address
        assert error is not None
        raise error

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None
        shutil.rmtree(self.directory, ignore_errors=True)
