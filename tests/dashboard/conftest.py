"""Dashboard fixtures: the reader fed by the emulator, started once for the browser tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .stack import Stack, running_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("dashboard")) as started:
        yield started
