"""App factory for uvicorn workers: `hanport portal` passes its settings in the environment.

Web workers only serve requests; the job runner (orders, outbox, customer changes) runs once,
in the `hanport portal` process, so several workers never drive the head-end twice.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from hanport.portal.db.engine import make_engine
from hanport.portal.web.app import PortalConfig, create_app

__all__ = ["ENV_DB", "ENV_HTTPS", "ENV_SECRET", "create_from_environment"]

ENV_DB = "HANPORT_PORTAL_DB"
ENV_SECRET = "HANPORT_PORTAL_SECRET"
ENV_HTTPS = "HANPORT_PORTAL_HTTPS"


def create_from_environment() -> FastAPI:
    secret = os.environ.get(ENV_SECRET, "")
    if len(secret) < 16:
        raise RuntimeError(f"{ENV_SECRET} must hold a secret of at least 16 characters")
    return create_app(
        PortalConfig(
            engine=make_engine(os.environ[ENV_DB]),
            secret_key=secret,
            https=os.environ.get(ENV_HTTPS) == "1",
        )
    )
