"""Compile the gettext catalogs (.po) of hanport into .mo files; a build step, needs Babel.

Called by `make catalogs` and by the wheel's build hook (`compile_catalogs(root)`). A catalog
with a fuzzy or untranslated message still compiles (gettext falls back for it); the test
`tests/test_catalogs.py` is what refuses such catalogs.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

__all__ = ["compile_catalogs"]


def compile_catalogs(root: Path) -> list[Path]:
    """Compile every `locale/*/LC_MESSAGES/*.po` under `root` whose .mo is missing or older;
    returns the .mo files written."""
    written = []
    for po_path in sorted(root.rglob("locale/*/LC_MESSAGES/*.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as source:
            catalog = read_po(source, locale=po_path.parent.parent.name)
        partial = mo_path.with_suffix(".mo.partial")
        with partial.open("wb") as target:
            write_mo(target, catalog)
        partial.replace(mo_path)  # atomic: a running server never reads half a file
        written.append(mo_path)
    return written


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent.parent / "src"
    for path in compile_catalogs(root):
        print(f"compiled {path.relative_to(root)}")


if __name__ == "__main__":
    main()
