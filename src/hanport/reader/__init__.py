"""Reader: HAN port → decode → storage → derived energy → MQTT, API and dashboard.

The one command::

    hanport read --serial /dev/ttyUSB0      # reads, stores, publishes, serves http://127.0.0.1:8080/

Other sources: ``--tcp HOST:PORT`` (ser2net, ESP bridges), ``--mqtt-raw 'hanport/raw/#'`` with
``--mqtt-host``, ``--file CAPTURE [--speed X]``; several at once. ``hanport import CAPTURE``
backfills, ``hanport serve`` serves a stored database, ``hanport export|backup|restore``.

Modules: ``sources`` (bytes in, reconnect with backoff) → ``pipeline`` (HanStream per stream,
counters, fan-out) → ``storage.writer`` (batched, gap-aware hours, day rollups) and ``live``
(the /api/now object) → ``mqtt.publisher`` (state + Home Assistant discovery) and ``web`` (the
API of docs/CONTRACTS.md §4). ``energy`` is pure arithmetic; ``settings`` merges TOML < env <
flags; ``service`` runs it all.
"""
