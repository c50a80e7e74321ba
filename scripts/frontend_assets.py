"""Build the dashboard's front-end assets (the chart library) into the Python package.

`npm ci` installs what frontend/package-lock.json pins, and frontend/copy-assets.mjs copies the
files the reader serves into src/hanport/reader/dashboard/static/vendor/. A stamp there records
the SHA-256 of the lock and the copy script the files came from, so a tree whose assets are
current (an sdist, a second build) needs neither npm nor the network.

Used by `make assets` (scripts/build-assets.sh) and by the wheel's build hook (hatch_build.py).
Standard library only: it runs before any virtual environment exists.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["STAMP", "AssetBuildError", "build_assets", "source_digest", "vendor_dir"]

STAMP = "SOURCE.json"


class AssetBuildError(RuntimeError):
    """The assets are missing and cannot be built here (no npm, or npm failed)."""


def vendor_dir(root: Path) -> Path:
    return root / "src" / "hanport" / "reader" / "dashboard" / "static" / "vendor"


def source_digest(frontend: Path) -> str:
    digest = hashlib.sha256()
    for name in ("package-lock.json", "copy-assets.mjs"):
        digest.update(name.encode() + b"\0" + (frontend / name).read_bytes() + b"\0")
    return digest.hexdigest()


def _current(vendor: Path, digest: str | None) -> bool:
    """The stamp is there, names files that all exist and (when known) the same sources."""
    try:
        stamp = json.loads((vendor / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    files = stamp.get("files") or []
    if not files or not all((vendor / name).is_file() for name in files):
        return False
    return digest is None or stamp.get("sources_sha256") == digest


def _run(command: list[str], cwd: Path) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssetBuildError(
            f"{' '.join(command)} failed in {cwd} (exit {done.returncode}):\n"
            f"{done.stdout}{done.stderr}"
        )


def build_assets(root: Path) -> bool:
    """Make the vendor files current; returns True when npm ran, False when they already were.

    Raises AssetBuildError with what to do when they cannot be made."""
    frontend, vendor = root / "frontend", vendor_dir(root)
    if not (frontend / "package-lock.json").is_file():
        # An unpacked sdist without the front-end sources: the shipped files must be complete.
        if _current(vendor, None):
            return False
        raise AssetBuildError(f"the dashboard's assets are missing from {vendor}")
    digest = source_digest(frontend)
    if _current(vendor, digest):
        return False
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        raise AssetBuildError(
            "building hanport's dashboard assets needs npm and Node.js "
            "(Debian: apt install npm); installing a built wheel does not"
        )
    _run([npm, "ci", "--prefer-offline", "--no-audit", "--no-fund", "--silent"], frontend)
    _run([node, "copy-assets.mjs"], frontend)
    files = sorted(p.name for p in vendor.iterdir() if p.name != STAMP and p.is_file())
    if not files:
        raise AssetBuildError(f"copy-assets.mjs wrote nothing to {vendor}")
    stamp = {"sources_sha256": digest, "files": files}
    (vendor / STAMP).write_text(json.dumps(stamp, indent=1) + "\n", encoding="utf-8")
    return True


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    try:
        ran = build_assets(root)
    except AssetBuildError as exc:
        print(f"assets: {exc}", file=sys.stderr)
        return 1
    print(f"assets: {'built' if ran else 'up to date'} in {vendor_dir(root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
