"""Meter emulator: a Kamstrup, Aidon or Kaifa HAN port you can plug a reader into.

    hanport emulate --meter kamstrup --phases 3 --to pty            # prints the /dev/pts/N path
    hanport emulate --meter aidon --speed 60 --to tcp://127.0.0.1:0  # like ser2net, sped up 60x
    hanport emulate --start 2026-01-01T00:00 --speed max --duration 1y --to file:year.bin
    hanport emulate --fleet fleet.toml --control 127.0.0.1:8700 --state-dir state/

Modules, pure ones first:
- ``load``: seeded household (and prosumer) load profiles, an hour at a time;
- ``meter``: brand specs, push schedules, measured values and exact energy registers;
- ``frames``: a push's frame, made by :class:`hanport.protocol.HanEncoder`;
- ``port``: the CLOSED/OPEN transition table; ``state``: port and meter states on disk;
- ``fleet``: meter configurations and fleet files (GSRN metering point ids);
- ``serve``: simulated clock, outputs (pty, TCP, file) and the push loop;
- ``control``: the HTTP control interface (docs/CONTRACTS.md §2); ``cli``: ``hanport emulate``.

The emulator uses only the public ``hanport.protocol``; readers meet it on the wire.
"""
