"""Composition root: the `hanport` command.

Each sub-command lives in the part of hanport it belongs to and is imported only when it is
run, so `hanport decode` never loads a web framework and a missing optional service never
breaks an unrelated command. A command module provides ``configure_<name>(parser)`` and
``run_<name>(args) -> int`` (names with ``-`` use ``_``).
"""

from __future__ import annotations

import importlib
import sys

from hanport import __version__
from hanport.extras import extra_missing_for, missing_module_advice

TYPE_CHECKING = False  # typing is not imported at run time (start-up of `hanport decode`)
if TYPE_CHECKING:
    from types import ModuleType
    from typing import NoReturn

#: command -> (module, one-line summary)
COMMANDS: dict[str, tuple[str, str]] = {
    "decode": ("hanport.decode", "decode a HAN capture (binary or hex) to JSON Lines"),
    "emulate": ("hanport.emulator.cli", "emulate a meter's HAN port (pty, TCP or file)"),
    "read": ("hanport.reader.cli", "read a HAN port: store, derive, publish, serve the API"),
    "import": ("hanport.reader.cli", "backfill a capture file into the database"),
    "serve": ("hanport.reader.cli", "serve the API and dashboard over an existing database"),
    "export": ("hanport.reader.cli", "export readings, hours or days as CSV"),
    "backup": ("hanport.reader.cli", "back up the reader's database"),
    "restore": ("hanport.reader.cli", "restore the reader's database from a backup"),
    "reconcile": (
        "hanport.reader.cli",
        "compare with the hourly values of Elhub or the grid company",
    ),
    "portal": ("hanport.portal.cli", "run the grid company's HAN port service"),
    "audit-verify": ("hanport.portal.cli", "verify the port service's hash-chained audit log"),
    "portal-terms": ("hanport.portal.cli", "list or publish the port service's terms of use"),
    "demo": ("hanport.demo", "run the whole system on embedded defaults"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"usage: hanport COMMAND [options]   (hanport {__version__})", "", "commands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "Run `hanport COMMAND --help` for the options of a command."]
    return "\n".join(lines)


def _parse(name: str, module: ModuleType, attr: str, rest: list[str]) -> object:
    """The command's options read by argparse, imported here: a command's plain command lines
    may skip it (see ``main``)."""
    import argparse

    class _Parser(argparse.ArgumentParser):
        """Bad options end in one line on stderr and exit status 2, not a page of usage."""

        def error(self, message: str) -> NoReturn:
            self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")

    parser = _Parser(prog=f"hanport {name}", description=COMMANDS[name][1])
    getattr(module, f"configure_{attr}")(parser)
    return parser.parse_args(rest)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in {"-h", "--help"}:
        print(_usage())
        return 0
    if argv[0] == "--version":
        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"hanport: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    advice = extra_missing_for(name)
    if advice is not None:
        print(f"hanport {name}: {advice}", file=sys.stderr)
        return 1
    module = importlib.import_module(COMMANDS[name][0])
    attr = name.replace("-", "_")
    # A command may read its plain command lines itself (``plain_args_<name>(argv)``, None for
    # anything else): argparse, re and gettext are a fifth of `hanport decode`'s start-up.
    plain = getattr(module, f"plain_args_{attr}", None)
    args = plain(rest) if plain is not None else None
    if args is None:
        args = _parse(name, module, attr, rest)
    try:
        return int(getattr(module, f"run_{attr}")(args))
    except KeyboardInterrupt:
        return 130
    except ModuleNotFoundError as exc:  # e.g. a PostgreSQL URL without the postgres extra
        advice = missing_module_advice(exc)
        if advice is None:
            raise
        print(f"hanport {name}: {advice}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
