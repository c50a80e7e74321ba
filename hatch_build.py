"""Hatch build hook: the sdist and the wheel carry everything hanport needs at run time.

- The dashboard's chart library, built from the npm lock (scripts/frontend_assets.py: `npm ci`
  and frontend/copy-assets.mjs). Building needs npm; installing the wheel does not. The sdist
  carries the built files with their stamp, so a wheel built from it needs no npm either.
- The gettext catalogs (.po) compiled to .mo (scripts/compile_catalogs.py, with Babel).

Both outputs are gitignored; `[tool.hatch.build] artifacts` puts them in the packages. An
editable install (`pip install -e .`) builds nothing here: `make assets` and `make catalogs`
keep a working tree current.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class AssetsAndCatalogsHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return
        root = Path(self.root)
        assets = _load(root / "scripts" / "frontend_assets.py")
        try:
            ran = assets.build_assets(root)
        except assets.AssetBuildError as exc:
            raise RuntimeError(f"hanport build: {exc}") from None
        self.app.display_info(f"dashboard assets: {'built with npm' if ran else 'current'}")
        self._compile_catalogs(root)

    def _compile_catalogs(self, root: Path) -> None:
        compiler = root / "scripts" / "compile_catalogs.py"
        if not compiler.is_file() or not any((root / "src").rglob("locale/*/LC_MESSAGES/*.po")):
            return
        written = _load(compiler).compile_catalogs(root / "src")
        self.app.display_info(f"gettext catalogs: {len(written)} compiled")
