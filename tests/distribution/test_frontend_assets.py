"""scripts/frontend_assets.py, which `make assets` and the wheel's build hook run: it needs npm
only when the built files do not match the npm lock, and says so clearly when npm is missing."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from types import ModuleType

import pytest

from services.paths import REPO_ROOT

FRONTEND_FILES = ("package.json", "package-lock.json", "copy-assets.mjs")


def _assets_module() -> ModuleType:
    path = REPO_ROOT / "scripts" / "frontend_assets.py"
    spec = importlib.util.spec_from_file_location("frontend_assets", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ASSETS = _assets_module()


def _tree(root: Path) -> Path:
    """A source tree with the front-end sources and no built files."""
    (root / "frontend").mkdir(parents=True)
    for name in FRONTEND_FILES:
        shutil.copy2(REPO_ROOT / "frontend" / name, root / "frontend" / name)
    return root


def _built(root: Path, digest: str) -> Path:
    vendor = ASSETS.vendor_dir(root)
    vendor.mkdir(parents=True)
    (vendor / "uPlot.iife.min.js").write_text("/* built */")
    stamp = {"sources_sha256": digest, "files": ["uPlot.iife.min.js"]}
    (vendor / ASSETS.STAMP).write_text(json.dumps(stamp))
    return vendor


def test_without_npm_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ASSETS.AssetBuildError, match="needs npm"):
        ASSETS.build_assets(_tree(tmp_path))


def test_current_files_need_no_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _tree(tmp_path)
    _built(root, ASSETS.source_digest(root / "frontend"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert ASSETS.build_assets(root) is False


def test_a_changed_lock_makes_the_files_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _tree(tmp_path)
    _built(root, ASSETS.source_digest(root / "frontend"))
    lock = root / "frontend" / "package-lock.json"
    lock.write_text(lock.read_text() + "\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ASSETS.AssetBuildError, match="needs npm"):
        ASSETS.build_assets(root)


def test_an_unpacked_sdist_without_frontend_sources_uses_its_files(tmp_path: Path) -> None:
    _built(tmp_path, "from an sdist")
    assert ASSETS.build_assets(tmp_path) is False
    (ASSETS.vendor_dir(tmp_path) / "uPlot.iife.min.js").unlink()
    with pytest.raises(ASSETS.AssetBuildError, match="missing"):
        ASSETS.build_assets(tmp_path)
