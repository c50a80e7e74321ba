"""Port service for the grid company: order, authorise, open/close, verify, confirm.

Layout (one concern per module):

- ``domain/``: pure values — ``gsrn`` (metering-point id, GS1 check digit), ``sla`` (Norwegian
  working days), ``order_states`` (the order transition table; all transitions live there),
  ``model`` (roles, actions, declarations, proxy scopes, operations).
- ``db/``: SQLAlchemy Core tables and Alembic migrations (SQLite by default, PostgreSQL by URL).
- ``services/``: one transaction per command with its audit entries (``tx``), ``orders``,
  ``authz``, ``audit`` (hash-chained), ``proxies``, ``moves`` (customer change), ``terms``,
  ``signin`` (one-time e-mail codes behind ``SignInMethod``), ``notify`` (e-mail outbox, nb/en),
  ``headend`` (open/close/read the HAN port — nothing else), ``queries`` (read models).
- ``jobs``: order execution with retries, backoff, escalation and read-back; outbox; moves.
- ``web/``: customer pages, back office (``staff``), API keys (``tokens``), REST API (``api``).
- ``cli``: ``hanport portal`` and ``hanport audit-verify``; ``seed``: the demo grid area and
  its fleet file for ``hanport emulate``.

Run the demo against the emulated fleet::

    hanport portal --fleet-out fleet.toml
    hanport emulate --fleet fleet.toml --control 127.0.0.1:8700 --state-dir state &
    hanport portal --seed-demo --headend http://127.0.0.1:8700      # e-mails print here
    # http://127.0.0.1:8600/ — sign in as ola@example.no (customer) or
    # kundeservice@nettselskap.example (customer service); the code is printed in the terminal
"""
