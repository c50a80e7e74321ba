"""Dashboard page load times in Chromium over a year of data, against the 300 ms target.

    .venv/bin/python bench/dashboard_load.py            # a year (365 days), built once, cached
    .venv/bin/python bench/dashboard_load.py --days 30  # quicker
    .venv/bin/python bench/dashboard_load.py --db postgresql+psycopg://…  # an existing database

The data: `hanport emulate` (Kamstrup, list 1 every 10 s, list 2 hourly) from `--days` ago until
now at full speed into a capture file, backfilled with `hanport import` into SQLite under
build/bench-dashboard/ (kept, so later runs start at once). `hanport serve` then serves the
API and dashboard over it, and Debian's Chromium loads every page `--runs` times (after one
warm-up round), each time in a fresh browser context ("cold": nothing cached, a first visit)
and then once more in the same context ("warm": static files from the cache, a revisit).

Two figures per page, from the browser's own clock (Navigation Timing and a performance mark):
- load: navigation start to the end of the load event (HTML, CSS, scripts, chart library);
- ready: navigation start to the `hanport-ready` mark, set when the page has its data (its first
  API answers come embedded in the page, rendered by the API's own functions; anything else is
  fetched) and has drawn its charts and tables; this is what a person waits for.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
HANPORT = [sys.executable, "-m", "hanport.cli"]
OSLO = ZoneInfo("Europe/Oslo")
TARGET_MS = 300.0
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGES = [
    ("now", "/"),
    ("today", "/today"),
    ("history day", "/history?view=day"),
    ("history month", "/history?view=month"),
    ("history year", "/history?view=year"),
    ("health", "/health"),
]
TIMING_JS = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const ready = performance.getEntriesByName("hanport-ready")[0];
  return {load: nav.loadEventEnd, dom: nav.domContentLoadedEventEnd,
          ready: ready ? ready.startTime : null};
}"""


def build_database(days: int, workdir: Path) -> str:
    """A SQLite database with `days` of one meter up to now; reused when it exists."""
    database = workdir / f"year-{days}d.sqlite3"
    url = f"sqlite:///{database}"
    if database.exists():
        print(f"using {database} (delete it to rebuild)")
        return url
    workdir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(OSLO).replace(second=0, microsecond=0, tzinfo=None)
    start = (now - timedelta(days=days)).replace(minute=0)
    minutes = int((now - start).total_seconds() // 60)
    capture = workdir / f"capture-{days}d.bin"
    began = time.perf_counter()
    print(f"emulating {days} days of a Kamstrup meter from {start:%Y-%m-%d %H:%M} …", flush=True)
    subprocess.run(
        [
            *HANPORT, "emulate", "--meter", "kamstrup", "--seed", "3", "--port", "open",
            "--start", start.isoformat(timespec="minutes"), "--duration", f"{minutes}m",
            "--speed", "max", "--to", f"file:{capture}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    print(f"importing {capture.stat().st_size / 1e6:.0f} MB …", flush=True)
    partial = database.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    subprocess.run([*HANPORT, "import", str(capture), "--db", f"sqlite:///{partial}"], check=True)
    partial.rename(database)
    capture.unlink()
    print(f"built in {time.perf_counter() - began:.0f} s: {database}")
    return url


def serve(db_url: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    log = workdir / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*HANPORT, "serve", "--db", db_url, "--host", "127.0.0.1", "--port", "0"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if "http://" in line:
                url = next(word for word in line.split() if word.startswith("http://"))
                return process, url.rstrip("/")
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"hanport serve did not start:\n{log.read_text()}")


def measure(url: str, runs: int) -> dict[tuple[str, str], list[dict[str, float]]]:
    """(page, cold|warm) -> timings. Cold: a fresh browser context (first visit, nothing
    cached). Warm: the same context again (static files from the cache, as on a revisit)."""
    from playwright.sync_api import sync_playwright

    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for name, path in PAGES:
                cold, warm = [], []
                for run in range(runs + 1):
                    context = browser.new_context(locale="nb-NO", timezone_id="Europe/Oslo")
                    page = context.new_page()
                    for samples in (cold, warm):
                        page.goto(url + path)
                        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
                        if run:  # the first round warms the server and is not counted
                            samples.append(page.evaluate(TIMING_JS))
                    context.close()
                results[(name, "cold")] = cold
                results[(name, "warm")] = warm
        finally:
            browser.close()
    return results


def report(results: dict[tuple[str, str], list[dict[str, float]]], runs: int) -> None:
    print(f"\nPage load in Chromium, median / max of {runs} loads (target < {TARGET_MS:.0f} ms)")
    print("load: to the end of the load event; ready: the page's data in and drawn")
    print(f"{'page':<15} {'cache':<5} {'load ms':>15} {'ready ms':>15}  verdict (ready)")
    for (name, cache), samples in results.items():
        loads = [s["load"] for s in samples]
        readies = [s["ready"] for s in samples if s["ready"] is not None] or loads
        verdict = "ok" if statistics.median(readies) < TARGET_MS else "SLOW"
        print(
            f"{name:<15} {cache:<5} {statistics.median(loads):>7.0f} / {max(loads):<5.0f}"
            f" {statistics.median(readies):>7.0f} / {max(readies):<5.0f}  {verdict}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365, help="days of data to build (365)")
    parser.add_argument("--db", help="measure over this existing database instead")
    parser.add_argument("--runs", type=int, default=5, help="loads per page (5)")
    parser.add_argument("--workdir", type=Path, default=REPO / "build" / "bench-dashboard")
    args = parser.parse_args()
    db_url = args.db or build_database(args.days, args.workdir)
    args.workdir.mkdir(parents=True, exist_ok=True)
    process, url = serve(db_url, args.workdir)
    try:
        print(f"hanport serve: {url}")
        results = measure(url, args.runs)
    finally:
        process.terminate()
        process.wait(timeout=10)
    report(results, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
