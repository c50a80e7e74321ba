"""`hanport serve --workers N`: N processes answer from one socket, as one process would."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from reader_synthetic import pushes

from hanport.cli import main
from hanport.reader import api
from hanport.reader.energy import LOCAL_TZ
from hanport.reader.storage.database import open_db
from hanport.reader.storage.writer import Writer
from services.processes import die_with_parent, stop_process
from services.waiting import wait_for

START = int(dt.datetime(2026, 4, 1, tzinfo=LOCAL_TZ).timestamp())


@pytest.fixture
def stored(tmp_path: Path) -> Path:
    path = tmp_path / "reader.sqlite3"
    engine = open_db(str(path))
    writer = Writer(engine)
    for push in pushes(START, 5):
        writer.add(push)
    writer.flush(final=True)
    engine.dispose()
    return path


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            continue
    return found


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def test_two_workers_answer_concurrent_clients_as_one_process_would(stored: Path) -> None:
    command = [sys.executable, "-m", "hanport.cli", "serve", "--db", str(stored), "--port", "0"]
    process = subprocess.Popen(
        [*die_with_parent("TERM"), *command, "--workers", "2"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        match = re.search(r"(http://\S+?)/\s", process.stdout.readline())
        assert match, "hanport serve printed no URL"
        base = match.group(1)
        wait_for(lambda: _answers(f"{base}/api/health"), timeout=30, what="the workers answer")
        # uvicorn's supervisor runs the two workers as its children
        workers = wait_for(lambda: len(_children(process.pid)) >= 2 and _children(process.pid))
        engine = open_db(str(stored), create=False)
        expected = api.energy(api.ReaderContext(engine=engine), "hours", "2026-04-01", None)
        engine.dispose()
        params = {"from": "2026-04-01"}

        def fetch(_: int) -> httpx.Response:  # a new connection each: the workers share them
            return httpx.get(f"{base}/api/hours", params=params, timeout=10)

        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(fetch, range(40)))
        assert all(a.status_code == 200 and a.json() == expected for a in answers)
        assert len(expected) == 5
    finally:
        stop_process(process)  # type: ignore[arg-type]  # a text-mode Popen
        if process.stdout is not None:
            process.stdout.close()
    assert process.returncode == 0
    wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), what="workers gone")


@pytest.mark.parametrize("workers", ["0", "33"])
def test_a_worker_count_out_of_range_is_refused(
    workers: str, stored: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--db", str(stored), "--port", "0", "--workers", workers]) == 2
    assert "--workers" in capsys.readouterr().err
