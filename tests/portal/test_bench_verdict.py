"""bench/portal_load.py judges only accepted orders and fails on any failed one."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench" / "portal_load.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("portal_load", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["portal_load"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_failed_requests_fail_the_round_and_stay_out_of_the_percentiles() -> None:
    bench = _bench()
    # 190 fast errors and 10 slow successes: the old verdict saw a p95 of 5 ms and said "meets"
    results = [(5.0, 500)] * 190 + [(900.0, 201)] * 10
    line, verdict = bench.summarise("burst 1", results, 1.0)
    assert not verdict.ok
    assert verdict.p95_ms == 900.0
    assert "190× HTTP 500" in line
    assert "FAILS (190 of 200" in verdict.text()

    _, nothing = bench.summarise("burst 2", [(1.0, 0)] * 3, 1.0)
    assert not nothing.ok and nothing.p95_ms == float("inf")

    _, good = bench.summarise("paced", [(20.0, 201)] * 200, 10.0)
    assert good.ok and "meets" in good.text()
