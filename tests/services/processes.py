"""Starting and stopping the service processes without leaving anything behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

__all__ = [
    "ci_requires_services",
    "die_with_parent",
    "missing",
    "read_log",
    "require_executable",
    "service_directory",
    "stop_process",
]


def ci_requires_services() -> bool:
    """True in CI, where a missing service is a failure instead of a skip."""
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def missing(reason: str) -> None:
    """Skip the test locally; fail it in CI (a service CI should have is never silently skipped)."""
    if ci_requires_services():
        pytest.fail(f"{reason} (CI is set, so this is an error, not a skip)", pytrace=False)
    pytest.skip(reason)


def require_executable(path_or_name: str, package: str) -> str:
    """Return the executable's path, or skip/fail with an install hint."""
    found = shutil.which(path_or_name) if os.sep not in path_or_name else None
    if found is None and os.path.isfile(path_or_name) and os.access(path_or_name, os.X_OK):
        found = path_or_name
    if found is None:
        missing(
            f"{path_or_name} is not installed; run `bash scripts/install-system-deps.sh` "
            f"(Debian package {package})"
        )
    assert found is not None
    return found


def die_with_parent(sig: str = "KILL") -> list[str]:
    """A command prefix that makes the service receive ``sig`` when the test process dies.

    Teardown stops services normally; this covers a test run killed with SIGKILL, which would
    otherwise leave brokers and databases running. ``setpriv`` (util-linux) sets the signal and
    execs the service, after Popen has switched user (the kernel clears the setting on a
    credential change, so the order matters). Without setpriv there is no such safety net.
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, f"--pdeathsig={sig}", "--"] if setpriv else []


def service_directory(kind: str) -> Path:
    """A new temporary directory ``hanport-<kind>-<pid>-XXXX`` for one service.

    Directories left by earlier runs that were killed (their pid is gone) are removed first.
    """
    tmp = Path(tempfile.gettempdir())
    for stale in tmp.glob(f"hanport-{kind}-*-*"):
        pid = stale.name.split("-")[2]
        if pid.isdigit() and not _process_exists(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"hanport-{kind}-{os.getpid()}-"))


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_process(
    process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, grace: float = 10.0
) -> None:
    """Ask the process to stop with ``sig``; kill it when it has not exited after ``grace`` s."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def read_log(path: Path, limit: int = 4000) -> str:
    """The tail of a service log for an error message."""
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return "(no log)"
