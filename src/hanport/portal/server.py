"""App factory for uvicorn workers: `hanport portal` passes its settings in the environment.

Besides the variables below, a worker reads the configuration file `hanport portal --config`
named in $HANPORT_PORTAL_CONFIG and the HANPORT_PORTAL_* variables (checked at start already).

Web workers only serve requests; the job runner (orders, outbox, customer changes) runs once,
in the `hanport portal` process, so several workers never drive the head-end twice.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import cast

from fastapi import FastAPI

from hanport.portal.db.engine import make_engine
from hanport.portal.services.oidc import OidcSettings, StaffOidcSettings
from hanport.portal.services.signin import EmailCodeSignIn, SignInLimits
from hanport.portal.settings import PortalSettings, load_settings
from hanport.portal.web.app import PortalConfig, create_app
from hanport.portal.web.middleware import COOKIE_SECURE_MODES, CookieSecure

__all__ = ["ENV_COOKIE_SECURE", "ENV_DB", "ENV_SECRET", "create_from_environment"]

ENV_DB = "HANPORT_PORTAL_DB"
ENV_SECRET = "HANPORT_PORTAL_SECRET"
ENV_COOKIE_SECURE = "HANPORT_PORTAL_COOKIE_SECURE"  #: always | auto | never


def create_from_environment() -> FastAPI:
    secret = os.environ.get(ENV_SECRET, "")
    if len(secret) < 16:
        raise RuntimeError(f"{ENV_SECRET} must hold a secret of at least 16 characters")
    cookie_secure = os.environ.get(ENV_COOKIE_SECURE, "auto")
    if cookie_secure not in COOKIE_SECURE_MODES:
        raise RuntimeError(f"{ENV_COOKIE_SECURE} must be one of {', '.join(COOKIE_SECURE_MODES)}")
    settings = load_settings()
    engine = make_engine(os.environ[ENV_DB])
    limits = SignInLimits(
        codes_per_address=settings.signin_codes_per_address,
        codes_per_client=settings.signin_codes_per_client,
        codes_per_address_day=settings.signin_codes_per_address_day,
    )
    return create_app(
        PortalConfig(
            engine=engine,
            secret_key=secret,
            cookie_secure=cast(CookieSecure, cookie_secure),
            signin=EmailCodeSignIn(engine, secret.encode(), limits),
            oidc=_customer_oidc(settings),
            staff_oidc=_staff_oidc(settings),
            pickup_places=settings.pickup_places,
            access_request_expire_after=timedelta(days=settings.access_request_expire_days),
            sla_working_days=settings.sla_working_days,
        )
    )


def _customer_oidc(settings: PortalSettings) -> OidcSettings | None:
    customers = settings.customers_oidc
    return None if customers is None else OidcSettings.for_customers(customers, settings.base_url)


def _staff_oidc(settings: PortalSettings) -> StaffOidcSettings | None:
    staff = settings.staff_oidc
    return None if staff is None else StaffOidcSettings.from_config(staff, settings.base_url)
