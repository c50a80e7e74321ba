"""The HAN sample frames in tests/data/han-samples (JSON arrays, see tests/data/README.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .paths import REPO_ROOT

__all__ = ["ENV_DIR", "han_samples_path", "load_han_samples"]

ENV_DIR = "HANPORT_HAN_SAMPLES_DIR"


def han_samples_path() -> Path:
    """``$HANPORT_HAN_SAMPLES_DIR`` (another set of samples) or ``tests/data/han-samples``."""
    configured = os.environ.get(ENV_DIR, "").strip()
    return Path(configured) if configured else REPO_ROOT / "tests" / "data" / "han-samples"


def load_han_samples(directory: Path) -> list[dict[str, Any]]:
    """Every entry of every ``*.json`` file, each with ``"file"`` (the file name) added."""
    entries: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a JSON array of samples")
        entries.extend({**entry, "file": path.name} for entry in data)
    return entries
