"""Real services for the test-suite: Mosquitto, PostgreSQL, an SMTP catcher and Chromium.

Each service runs on loopback, on a free port, in a temporary directory, and is stopped at the
end of the session even when tests fail. The pytest fixtures that use them live in
``services.fixtures`` and are made available to every test by ``tests/conftest.py``; the helpers
here (``free_port``, ``screenshot`` …) can be imported directly::

    from services.ports import free_port
    from services.browser import screenshot
"""
