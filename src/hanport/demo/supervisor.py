"""Child processes of the demo: start, log, watch, stop in order.

Each part of hanport runs as its own `hanport …` process, exactly as a user would run it, so the
demo exercises the real command lines and the parts meet only on the wire. Children get their
own session (Ctrl-C in the terminal reaches only the demo, which then stops them in reverse
order, giving each time to flush) and, where util-linux's setpriv exists, a parent-death signal,
so a demo that is killed outright does not leave meters pushing in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = ["ChildFailed", "ChildProcess", "hanport_command", "wait_for_http"]


class ChildFailed(RuntimeError):
    """A part of the demo did not start or stopped on its own; the message says which and why."""


def hanport_command(*args: str) -> list[str]:
    """``hanport ARGS`` with this interpreter (works from a venv without activating it)."""
    return [sys.executable, "-m", "hanport.cli", *args]


def _death_signal_prefix() -> list[str]:
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig=TERM", "--"] if setpriv else []


@dataclass
class ChildProcess:
    """One `hanport` command running in the background, its output appended to ``log_path``."""

    name: str
    argv: list[str]
    log_path: Path
    #: called with each stdout line (decoded); used to learn the emulator's stream addresses
    on_line: Callable[[str], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None
    _pump: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        log.write(f"\n===== {' '.join(self.argv)}\n".encode())
        log.flush()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        try:
            self.process = await asyncio.create_subprocess_exec(
                *_death_signal_prefix(),
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env=env,
                start_new_session=True,
            )
        finally:
            log.close()  # the child has its own copy of the descriptor
        self._pump = asyncio.create_task(self._copy_stdout(), name=f"{self.name}-stdout")

    async def _copy_stdout(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        with self.log_path.open("ab") as log:
            async for line in self.process.stdout:
                log.write(line)
                log.flush()
                if self.on_line is not None:
                    self.on_line(line.decode(errors="replace").rstrip("\n"))

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def wait(self) -> int:
        assert self.process is not None
        code = await self.process.wait()
        if self._pump is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        return code

    async def stop(self, grace: float = 10.0) -> None:
        """SIGTERM (the parts flush and close on it), SIGKILL after ``grace`` seconds."""
        if self.process is None:
            return
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def failure(self, what: str) -> ChildFailed:
        return ChildFailed(
            f"{self.name}: {what}\n  command: {' '.join(self.argv)}\n  log: {self.log_path}\n"
            + "\n".join(f"  | {line}" for line in self.log_tail().splitlines())
        )


async def wait_for_http(url: str, child: ChildProcess | None = None, timeout: float = 60.0) -> None:
    """Wait until ``url`` answers with anything but a server error (or the child dies)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx.AsyncClient(timeout=2.0) as client:
        while loop.time() < deadline:
            if child is not None and not child.running:
                raise child.failure(
                    f"exited with code {child.process and child.process.returncode}"
                )
            try:
                response = await client.get(url)
                if response.status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    if child is not None:
        raise child.failure(f"{url} did not answer within {timeout:.0f} s")
    raise ChildFailed(f"{url} did not answer within {timeout:.0f} s")
