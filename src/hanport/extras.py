"""Which optional part of hanport (a pip "extra") a command needs, and what to install.

The base install is a reader (SQLite); the port service, PostgreSQL and the demo come with the
extras of pyproject.toml's [project.optional-dependencies]. A command run without its extra
says which one to install instead of failing with a traceback.
"""

from __future__ import annotations

import importlib.util

TYPE_CHECKING = False  # typing is not imported at run time (start-up of `hanport decode`)
if TYPE_CHECKING:
    from typing import Final

__all__ = [
    "EXTRA_FOR_COMMAND",
    "EXTRA_FOR_MODULE",
    "INCLUDED_EXTRAS",
    "MODULES_OF_EXTRA",
    "extra_missing_for",
    "missing_module_advice",
]

#: an extra → the modules it installs; a tuple lists a module's names across releases (any
#: one will do: python-multipart before 0.0.13 has only `multipart`)
MODULES_OF_EXTRA: Final = {
    "portal": (
        ("python_multipart", "multipart"),
        ("itsdangerous",),
        ("httpx",),
        ("holidays",),
        ("aiosmtplib",),
        ("httptools",),
        ("uvloop",),
        ("authlib",),
        ("joserfc",),
    ),
    "postgres": (("psycopg",),),
    "demo": (("aiosmtpd",),),
}
#: a module imported by hanport → the extra that installs it
EXTRA_FOR_MODULE: Final = {
    name: extra
    for extra, modules in MODULES_OF_EXTRA.items()
    for names in modules
    for name in names
}
#: a command → the extra it always needs
EXTRA_FOR_COMMAND: Final = {
    "portal": "portal",
    "audit-verify": "portal",
    "portal-terms": "portal",
    "demo": "demo",
}
#: an extra → the extras it includes (pyproject: demo = ["hanport[portal]", …])
INCLUDED_EXTRAS: Final = {"demo": ("portal",)}


def _advice(extra: str, module: str) -> str:
    return (
        f"trenger tillegget / needs the extra '{extra}' (mangler / missing: {module}); "
        f"pip install 'hanport[{extra}]'  or  pipx install --force 'hanport[{extra}]'"
    )


def extra_missing_for(command: str) -> str | None:
    """What to install when a module of the command's extra is missing; None when all are."""
    needed = EXTRA_FOR_COMMAND.get(command)
    if needed is None:
        return None
    for extra in (needed, *INCLUDED_EXTRAS.get(needed, ())):
        for names in MODULES_OF_EXTRA[extra]:
            if all(importlib.util.find_spec(name) is None for name in names):
                return _advice(needed, names[0])
    return None


def missing_module_advice(error: ModuleNotFoundError) -> str | None:
    """What to install for a module an extra provides (e.g. psycopg for a PostgreSQL URL);
    None for any other missing module, which is a bug to show as it is."""
    module = (error.name or "").partition(".")[0]
    extra = EXTRA_FOR_MODULE.get(module)
    return None if extra is None else _advice(extra, module)
