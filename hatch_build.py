"""Hatch build hook: the sdist and the wheel carry everything hanport needs at run time.

- The dashboard's chart library, built from the npm lock (scripts/frontend_assets.py: `npm ci`
  and frontend/copy-assets.mjs). Building needs npm; installing the wheel does not. The sdist
  carries the built files with their stamp, so a wheel built from it needs no npm either.
- The gettext catalogs (.po) compiled to .mo (scripts/compile_catalogs.py, with Babel).
- The protocol core compiled with mypyc (as black and mypy ship themselves): the wheel then
  carries the extension modules next to the .py sources and is tagged for this Python and
  platform: the core's modules and those of `lists/` (the general path: identification,
  scalers). HANPORT_PURE=1 builds the pure-Python wheel instead, the one a Pi without a
  compiler or another Python installs (so does the sdist, built with HANPORT_PURE=1).
  `_encoder` and `__init__` stay Python: the encoder is the emulator's and the tests' side,
  not the decode path, and `__init__` keeps its lazy `__getattr__`. mypyc type-checks the core
  strictly, so the build needs `cryptography` (for `_crypto`'s types) too.

Both outputs are gitignored; `[tool.hatch.build] artifacts` puts them in the packages. An
editable install (`pip install -e .`) builds nothing here: `make assets` and `make catalogs`
keep a working tree current.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
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
        if self.target_name == "wheel" and os.environ.get("HANPORT_PURE") != "1":
            self._compile_protocol(root, build_data)

    def _compile_catalogs(self, root: Path) -> None:
        compiler = root / "scripts" / "compile_catalogs.py"
        if not compiler.is_file() or not any((root / "src").rglob("locale/*/LC_MESSAGES/*.po")):
            return
        written = _load(compiler).compile_catalogs(root / "src")
        self.app.display_info(f"gettext catalogs: {len(written)} compiled")

    def _compile_protocol(self, root: Path, build_data: dict[str, Any]) -> None:
        from mypyc.build import mypycify
        from setuptools import Distribution
        from setuptools.command.build_ext import build_ext

        core = root / "src" / "hanport" / "protocol"
        sources = [
            str(path.relative_to(root))
            for path in sorted(core.rglob("*.py"))
            if path.relative_to(core).as_posix() not in _STAYS_PYTHON
        ]
        out = Path(tempfile.mkdtemp(prefix="hanport-mypyc-"))
        cwd = Path.cwd()
        os.chdir(root)  # mypyc names modules from paths relative to the working directory
        try:
            extensions = mypycify(sources, opt_level="3", target_dir=str(out / "c"))
            command = build_ext(Distribution({"ext_modules": extensions}))
            command.build_lib = str(out / "lib")
            command.build_temp = str(out / "tmp")
            command.ensure_finalized()
            command.run()
        finally:
            os.chdir(cwd)
        built = [path for path in (out / "lib").rglob("*") if path.suffix in (".so", ".pyd")]
        for path in built:
            build_data["force_include"][str(path)] = str(path.relative_to(out / "lib"))
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        self.app.display_info(f"protocol core: {len(built)} modules compiled with mypyc")


_STAYS_PYTHON = ("__init__.py", "_encoder.py")
