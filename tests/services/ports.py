"""Free loopback ports and waiting for a server to accept connections."""

from __future__ import annotations

import socket
import subprocess
import time

__all__ = ["ServiceStartError", "free_port", "port_accepts", "wait_for_port"]

LOOPBACK = "127.0.0.1"


class ServiceStartError(RuntimeError):
    """A test service did not come up; the message carries its log."""


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port that is free on ``host`` right now.

    Another process may take it before the caller binds it; the service starters retry on
    that (see ``start_with_retries``), and code under test should prefer binding port 0.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_accepts(host: str, port: int, timeout: float = 0.2) -> bool:
    """True when a TCP connection to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(
    host: str,
    port: int,
    timeout: float = 15.0,
    process: subprocess.Popen[bytes] | None = None,
    what: str = "service",
) -> None:
    """Wait until ``host:port`` accepts connections.

    Raises ServiceStartError when ``process`` exits first or the timeout passes.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServiceStartError(f"{what} exited with code {process.returncode}")
        if port_accepts(host, port):
            return
        time.sleep(0.02)
    raise ServiceStartError(f"{what} did not accept connections on {host}:{port} in {timeout} s")
