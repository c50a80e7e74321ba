"""Sign-in through OpenID Connect as ID-porten does it (any certified provider will do).

Authorization code flow with PKCE (S256), `state` and `nonce`, `acr_values` and `ui_locales`;
Authlib speaks the protocol and checks the ID token against the provider's JWKS (fetched from
discovery, fetched again when a token names an unknown key: key rotation). The person is the
`pid` claim (fødselsnummer or d-nummer); the portal keeps a keyed hash of it (HMAC-SHA256 with a
secret from the configuration) to find the person's contracts, not the number itself, unless
the configuration says to keep the number. Every refusal is audited and starts no session.

The browser keeps the pending sign-in (state, nonce, PKCE verifier) in its signed preferences
cookie between the redirect to the provider and the way back; it is used once.

Signing out ends the portal session first, then sends the browser to the provider's
end_session_endpoint (RP-initiated logout) with the ID token as `id_token_hint`; the ID token
holds the pid, so the browser keeps it encrypted (web/oidc.py), never the database. The provider
ends the portal sessions of a provider session it ends: front-channel (a GET with iss and sid)
or back-channel (a logout token, a JWT checked here against the same JWKS).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

import httpx
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.claims import JWTClaims
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidClaimError, InvalidKeyIdError, JoseError, MissingClaimError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import IntegrityError

from hanport.i18n import N_
from hanport.portal.db.engine import begin_write
from hanport.portal.db.schema import inserted_id, logout_tokens_seen, parties, sessions
from hanport.portal.domain.fodselsnummer import InvalidPid, parse_pid
from hanport.portal.services.sessions import session_token_hash
from hanport.portal.services.tx import transaction, utcnow

if TYPE_CHECKING:
    from joserfc.jwk import KeySetSerialization

    from hanport.portal.settings import OidcClient

__all__ = [
    "ACR_HIGH",
    "ACR_SUBSTANTIAL",
    "CALLBACK_PATH",
    "STAFF_CALLBACK_PATH",
    "LogoutRefused",
    "OidcIdentity",
    "OidcRefused",
    "OidcSettings",
    "OidcSignIn",
    "PendingSignIn",
    "StaffOidcSettings",
    "StaffOidcSignIn",
    "enroll_pids",
    "pid_reference",
]

ACR_SUBSTANTIAL = "idporten-loa-substantial"
ACR_HIGH = "idporten-loa-high"
_ACR_ORDER = (ACR_SUBSTANTIAL, ACR_HIGH)
UI_LOCALES = {"nb": "nb", "nn": "nn", "en": "en"}
METHOD = "oidc"
CALLBACK_PATH = "/signin/oidc/callback"
STAFF_METHOD = "oidc-staff"
STAFF_CALLBACK_PATH = "/staff/signin/oidc/callback"
_HTTP_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class OidcSettings:
    """The [oidc] section of the portal's configuration."""

    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    #: the key of the keyed hash of each person's pid (HMAC-SHA256)
    pid_secret: bytes = field(repr=False)
    acr_values: str = ACR_SUBSTANTIAL  #: or ACR_HIGH
    scope: str = "openid profile"
    #: keep the number itself instead of its keyed hash (only where the law asks for it)
    store_pid: bool = False
    leeway_s: int = 30  #: clock difference tolerated on exp/iat
    pending_ttl_s: int = 600  #: how long a started sign-in may take at the provider

    def __post_init__(self) -> None:
        if self.acr_values not in _ACR_ORDER:
            raise ValueError(f"acr_values must be one of {_ACR_ORDER}")
        if len(self.pid_secret) < 16 and not self.store_pid:
            raise ValueError("the pid hash key must be at least 16 characters")

    @classmethod
    def for_customers(cls, client: OidcClient, base_url: str) -> OidcSettings:
        """From the configuration's [oidc.customers]; the callback is under `base_url`."""
        return cls(
            issuer=client.issuer,
            client_id=client.client_id,
            client_secret=client.client_secret,
            redirect_uri=base_url.rstrip("/") + CALLBACK_PATH,
            pid_secret=client.pid_hash_key.encode(),
            acr_values=ACR_HIGH if client.acr == "high" else ACR_SUBSTANTIAL,
            scope=client.scope,
            store_pid=client.store_pid,
        )

    def accepted_acr(self) -> list[str]:
        """The level asked for, or a higher one."""
        return list(_ACR_ORDER[_ACR_ORDER.index(self.acr_values) :])


def _pid_digest(pid: str, settings: OidcSettings) -> str:
    return hmac.new(settings.pid_secret, pid.encode(), hashlib.sha256).hexdigest()


def pid_reference(pid: str, settings: OidcSettings) -> str:
    """What the parties table keeps of a pid: its keyed hash, or the number if so configured."""
    return f"pid:{pid}" if settings.store_pid else f"hmac:{_pid_digest(pid, settings)}"


def enroll_pids(engine: Engine, pids_by_email: Mapping[str, str], settings: OidcSettings) -> int:
    """Record the pid reference of existing people (by e-mail), e.g. the demo's synthetic ones;
    returns how many were found."""
    found = 0
    with transaction(engine) as tx:
        for email, pid in pids_by_email.items():
            found += tx.conn.execute(
                update(parties)
                .where(parties.c.email == email)
                .values(pid_ref=pid_reference(parse_pid(pid), settings))
            ).rowcount
    return found


@dataclass(frozen=True, slots=True)
class PendingSignIn:
    """A sign-in sent to the provider, kept by the browser until it comes back."""

    state: str
    nonce: str
    code_verifier: str
    started: int  #: epoch seconds

    def dumps(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, raw: str | None) -> PendingSignIn | None:
        if not raw:
            return None
        try:
            data = json.loads(raw)
            return cls(
                str(data["state"]),
                str(data["nonce"]),
                str(data["code_verifier"]),
                int(data["started"]),
            )
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True, slots=True)
class OidcIdentity:
    party_id: int
    subject: str  #: "oidc:<issuer>#<sub>"
    sid: str | None  #: the provider's session, for front-channel and back-channel logout
    acr: str
    method: str = METHOD
    #: the ID token itself, the `id_token_hint` of signing out at the provider (holds the pid:
    #: the web layer keeps it encrypted in the browser, never in the database)
    id_token: str = field(default="", repr=False)


class LogoutRefused(Exception):
    """A back-channel logout token that does not hold; `reason` is for the audit log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: the `events` member that makes a JWT a back-channel logout token (OIDC Back-Channel Logout 1.0)
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: how old a logout token may be (its iat), beyond the clock leeway
_LOGOUT_TOKEN_MAX_AGE_S = 300


class _LogoutTokenClaims(JWTClaims):  # type: ignore[misc]  # Authlib is untyped
    """A logout token's claims: iss, aud and iat as for any JWT (Authlib), then the events
    claim, a sid or a sub, and no nonce (so an ID token is never taken for one)."""

    def validate(self, now: int | None = None, leeway: int = 0) -> None:
        for name in ("iss", "aud", "iat", "jti"):
            if name not in self:
                raise MissingClaimError(name)
        super().validate(now, leeway)
        issued = self["iat"]
        if isinstance(now, int) and (
            not isinstance(issued, int) or issued < now - leeway - _LOGOUT_TOKEN_MAX_AGE_S
        ):
            raise InvalidClaimError("iat")
        events = self.get("events")
        if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):
            raise InvalidClaimError("events")
        if not self.get("sid") and not self.get("sub"):
            raise MissingClaimError("sid")
        if "nonce" in self:
            raise InvalidClaimError("nonce")


class OidcRefused(Exception):
    """The sign-in is refused; `reason` is for the audit log, `message` for the person."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message


#: refusals audited where they are found out, with what is known then
_AUDITED_WHERE_FOUND = frozenset({"unknown_person", "not_staff", "email_in_use", "no_email"})
_TRY_AGAIN = N_("The sign-in could not be completed. Start again from the sign-in page.")
_UNREACHABLE = N_("The sign-in service cannot be reached right now. Try again in a few minutes.")
_NOT_A_CUSTOMER = N_(
    "You signed in, but we have no customer relationship registered for you. Contact customer "
    "service if you think this is wrong."
)


class _ClientSettings(Protocol):
    """What every relying party needs of its registration at the provider."""

    @property
    def issuer(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def client_secret(self) -> str: ...
    @property
    def redirect_uri(self) -> str: ...
    @property
    def scope(self) -> str: ...
    @property
    def leeway_s(self) -> int: ...
    @property
    def pending_ttl_s(self) -> int: ...


class _RelyingParty:
    """The portal as a relying party of one OpenID provider; subclasses say what they ask for
    besides the standard (`_authorization_params`, `_claims_options`) and whom they let in
    (`_identify`)."""

    def __init__(
        self, engine: Engine, client: _ClientSettings, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.engine = engine
        self.client = client
        self.clock = clock  #: the time ID tokens are checked against
        self._metadata: dict[str, Any] | None = None
        self._jwks: dict[str, Any] | None = None

    def _authorization_params(self) -> dict[str, str]:
        return {}

    def _claims_options(self, nonce: str) -> dict[str, Any]:
        return {
            "iss": {"essential": True, "value": self.client.issuer},
            "aud": {"essential": True, "value": self.client.client_id},
            "nonce": {"essential": True, "value": nonce},
        }

    def _identify(self, claims: dict[str, Any]) -> OidcIdentity:
        raise NotImplementedError

    # -- the provider's discovery document and keys --------------------------------------

    def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            url = self.client.issuer.rstrip("/") + "/.well-known/openid-configuration"
            response = httpx.get(url, timeout=_HTTP_TIMEOUT_S)
            response.raise_for_status()
            document = response.json()
            if document.get("issuer") != self.client.issuer:
                raise ValueError(f"the discovery document of {url} names another issuer")
            self._metadata = document
        return self._metadata

    def _key_set(self, refresh: bool = False) -> KeySet:
        if self._jwks is None or refresh:
            response = httpx.get(self.metadata()["jwks_uri"], timeout=_HTTP_TIMEOUT_S)
            response.raise_for_status()
            self._jwks = response.json()
        return KeySet.import_key_set(cast("KeySetSerialization", self._jwks))

    def _client(self) -> OAuth2Client:
        return OAuth2Client(
            client_id=self.client.client_id,
            client_secret=self.client.client_secret,
            token_endpoint_auth_method="client_secret_post",
            scope=self.client.scope,
            redirect_uri=self.client.redirect_uri,
            code_challenge_method="S256",
            timeout=_HTTP_TIMEOUT_S,
        )

    # -- the flow ---------------------------------------------------------------------------

    def begin(self, lang: str) -> tuple[str, PendingSignIn]:
        """The provider's authorization URL to send the browser to, and what to keep;
        OidcRefused when the provider cannot be reached."""
        try:
            return self._begin(lang)
        except (httpx.HTTPError, ValueError):
            raise OidcRefused("provider_unreachable", _UNREACHABLE) from None

    def _begin(self, lang: str) -> tuple[str, PendingSignIn]:
        pending = PendingSignIn(
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            code_verifier=secrets.token_urlsafe(48),
            started=int(self.clock().timestamp()),
        )
        with self._client() as client:
            url, _ = client.create_authorization_url(
                self.metadata()["authorization_endpoint"],
                state=pending.state,
                code_verifier=pending.code_verifier,
                nonce=pending.nonce,
                ui_locales=UI_LOCALES.get(lang, "nb"),
                prompt="login",
                **self._authorization_params(),
            )
        return str(url), pending

    def finish(
        self, params: Mapping[str, str], pending: PendingSignIn | None, client: str | None = None
    ) -> OidcIdentity:
        """The browser is back from the provider: check everything, find the person.
        OidcRefused (audited) when anything is wrong."""
        try:
            try:
                claims, id_token = self._checked_claims(params, pending)
            except (httpx.HTTPError, ValueError):  # discovery or keys unreachable or garbled
                raise OidcRefused("provider_unreachable", _UNREACHABLE) from None
            return replace(self._identify(claims), id_token=id_token)
        except OidcRefused as refused:
            self._audit_refusal(refused.reason, client)
            raise

    def _checked_claims(
        self, params: Mapping[str, str], pending: PendingSignIn | None
    ) -> tuple[dict[str, Any], str]:
        if pending is None or not hmac.compare_digest(
            params.get("state", "").encode(), pending.state.encode()
        ):
            raise OidcRefused("wrong_state", _TRY_AGAIN)
        if self.clock().timestamp() - pending.started > self.client.pending_ttl_s:
            raise OidcRefused("flow_expired", _TRY_AGAIN)
        if "error" in params:
            raise OidcRefused(f"provider_error:{params['error'][:40]}", _TRY_AGAIN)
        if params.get("iss") not in (None, self.client.issuer):
            raise OidcRefused("wrong_issuer", _TRY_AGAIN)  # RFC 9207 mix-up defence
        token = self.exchange_code(params.get("code", ""), pending)
        id_token = str(token.get("id_token", ""))
        return self.validate_id_token(id_token, pending.nonce, now=self.clock()), id_token

    def exchange_code(self, code: str, pending: PendingSignIn) -> dict[str, Any]:
        if not code:
            raise OidcRefused("no_code", _TRY_AGAIN)
        try:
            with self._client() as client:
                token = client.fetch_token(
                    self.metadata()["token_endpoint"],
                    code=code,
                    code_verifier=pending.code_verifier,
                    grant_type="authorization_code",
                )
        except (OAuthError, OAuth2Error) as exc:  # a used (replayed) or foreign code
            raise OidcRefused(f"token_refused:{exc.error}", _TRY_AGAIN) from None
        except httpx.HTTPError:
            raise OidcRefused("provider_unreachable", _UNREACHABLE) from None
        return dict(token)

    def validate_id_token(
        self, id_token: str, nonce: str, now: datetime | None = None
    ) -> dict[str, Any]:
        """The ID token's claims once signature, iss, aud, exp, nonce and acr hold."""
        if not id_token:
            raise OidcRefused("no_id_token", _TRY_AGAIN)
        try:
            decoded = self._decode(id_token, "id_token_signing_alg_values_supported")
            claims = CodeIDToken(
                decoded.claims,
                decoded.header,
                self._claims_options(nonce),
                {"nonce": nonce, "client_id": self.client.client_id},
            )
            claims.validate(now=int(now.timestamp()) if now else None, leeway=self.client.leeway_s)
        except JoseError as exc:
            raise OidcRefused(f"id_token_invalid:{exc.error}", _TRY_AGAIN) from None
        except ValueError:  # not a JWT at all
            raise OidcRefused("id_token_invalid:malformed", _TRY_AGAIN) from None
        return dict(claims)

    def _decode(self, token: str, algorithms_key: str) -> jwt.Token:
        """The JWT's header and claims once its signature holds against the provider's keys
        (fetched again when it names an unknown key: the provider rotated them)."""
        algorithms = self.metadata().get(algorithms_key) or ["RS256"]
        registry = JWSRegistry(algorithms=[a for a in algorithms if a != "none"])
        try:
            return jwt.decode(token, self._key_set(), registry=registry)
        except InvalidKeyIdError:
            return jwt.decode(token, self._key_set(refresh=True), registry=registry)

    def _audit_refusal(self, reason: str, client: str | None) -> None:
        if reason in _AUDITED_WHERE_FOUND:
            return
        with transaction(self.engine) as tx:
            tx.audit(
                "oidc:anonymous",
                "signin.oidc.refused",
                "oidc_client",
                self.client.client_id[:64],
                reason=reason,
                client=client,
            )

    # -- sessions tied to the provider's session --------------------------------------------

    def bind_session(self, token: str, sid: str | None) -> None:
        """Remember the provider's session id for the portal session, for front-channel logout."""
        if sid is None:
            return
        with transaction(self.engine) as tx:
            tx.conn.execute(
                update(sessions)
                .where(sessions.c.token_hash == session_token_hash(token))
                .values(idp_sid=sid[:255])
            )

    def post_logout_redirect_uri(self) -> str:
        """Where the provider sends the browser after signing out: the portal's sign-in page
        (registered with the provider beside the redirect URI)."""
        base = self.client.redirect_uri.removesuffix(self._callback_path)
        return base + "/signin"

    _callback_path = CALLBACK_PATH

    def end_session_url(self, id_token: str, lang: str, state: str = "") -> str | None:
        """The provider's end_session_endpoint (RP-initiated logout) with `id_token_hint` and
        `post_logout_redirect_uri`; None when the provider cannot be reached or offers none
        (the portal session has ended by then all the same)."""
        try:
            endpoint = self.metadata().get("end_session_endpoint")
        except (httpx.HTTPError, ValueError):
            return None
        if not isinstance(endpoint, str) or not endpoint:
            return None
        params = {
            "client_id": self.client.client_id,
            "post_logout_redirect_uri": self.post_logout_redirect_uri(),
            "ui_locales": UI_LOCALES.get(lang, "nb"),
        }
        if id_token:
            params["id_token_hint"] = id_token
        if state:
            params["state"] = state
        return str(httpx.URL(endpoint).copy_merge_params(params))

    def backchannel_logout(self, logout_token: str) -> int:
        """OIDC Back-Channel Logout: the provider posts a logout token; every portal session
        of its `sid` (or, without one, of its `sub`) ends. LogoutRefused (audited) when the
        token does not hold; the number of sessions ended otherwise."""
        try:
            claims = self.validate_logout_token(logout_token)
            self._first_use(str(claims["jti"]), int(claims["iat"]))
        except LogoutRefused as refused:
            with transaction(self.engine) as tx:
                tx.audit(
                    "oidc:provider",
                    "session.logout_token_refused",
                    "oidc_client",
                    self.client.client_id[:64],
                    reason=refused.reason,
                )
            raise
        sid, sub = str(claims.get("sid") or ""), str(claims.get("sub") or "")
        return self._end_provider_sessions(sid, sub, "back-channel")

    def _first_use(self, jti: str, issued: int) -> None:
        """Refuse a logout token seen before, by this process or any other on the database:
        its jti (with the issuer) is stored until the token would be refused as too old
        anyway; those past that are purged on the way (an index on their expiry)."""
        now = self.clock()
        kept = _LOGOUT_TOKEN_MAX_AGE_S + self.client.leeway_s
        expires = datetime.fromtimestamp(max(issued, int(now.timestamp())) + kept, UTC)
        seen = hashlib.sha256(f"{self.client.issuer}\0{jti}".encode()).hexdigest()
        try:
            with begin_write(self.engine) as conn:
                conn.execute(
                    delete(logout_tokens_seen).where(logout_tokens_seen.c.expires_at < now)
                )
                conn.execute(logout_tokens_seen.insert().values(jti_hash=seen, expires_at=expires))
        except IntegrityError:
            raise LogoutRefused("logout_token_replayed") from None

    def validate_logout_token(self, logout_token: str) -> dict[str, Any]:
        """The logout token's claims once signature, iss, aud, iat, events, sid/sub and the
        absence of a nonce hold."""
        if not logout_token:
            raise LogoutRefused("no_logout_token")
        try:
            decoded = self._decode(logout_token, "id_token_signing_alg_values_supported")
            claims = _LogoutTokenClaims(
                decoded.claims,
                decoded.header,
                {
                    "iss": {"essential": True, "value": self.client.issuer},
                    "aud": {"essential": True, "value": self.client.client_id},
                },
            )
            claims.validate(now=int(self.clock().timestamp()), leeway=self.client.leeway_s)
        except JoseError as exc:
            raise LogoutRefused(f"logout_token_invalid:{exc.error}") from None
        except httpx.HTTPError:
            raise LogoutRefused("provider_unreachable") from None
        except ValueError:
            raise LogoutRefused("logout_token_invalid:malformed") from None
        return dict(claims)

    def _end_provider_sessions(self, sid: str, sub: str, how: str) -> int:
        """End the live portal sessions begun in provider session `sid`, or of subject `sub`."""
        if sid:
            which = sessions.c.idp_sid == sid[:255]
        else:
            subject = f"oidc:{self.client.issuer}#{sub}"
            holders = select(parties.c.id).where(parties.c.idp_subject == subject)
            which = sessions.c.party_id.in_(holders)
        with transaction(self.engine) as tx:
            ended = tx.conn.execute(
                update(sessions)
                .where(which, sessions.c.revoked_at.is_(None))
                .values(revoked_at=tx.now)
            ).rowcount
            if ended:
                tx.audit(
                    "oidc:provider",
                    "session.ended_by_provider",
                    "idp_session",
                    hashlib.sha256((sid or sub).encode()).hexdigest()[:12],
                    sessions=ended,
                    channel=how,
                )
        return int(ended)

    def frontchannel_logout(self, iss: str, sid: str) -> int:
        """The provider says its session ended: end every portal session started from it."""
        if iss != self.client.issuer or not sid:
            return 0
        return self._end_provider_sessions(sid, "", "front-channel")


class OidcSignIn(_RelyingParty):
    """Customers through ID-porten: the level asked for, the person by the pid claim."""

    def __init__(
        self, engine: Engine, settings: OidcSettings, clock: Callable[[], datetime] = utcnow
    ) -> None:
        super().__init__(engine, settings, clock)
        self.settings = settings

    def _authorization_params(self) -> dict[str, str]:
        return {"acr_values": self.settings.acr_values}

    def _claims_options(self, nonce: str) -> dict[str, Any]:
        return {
            **super()._claims_options(nonce),
            "acr": {"essential": True, "values": self.settings.accepted_acr()},
        }

    def _identify(self, claims: dict[str, Any]) -> OidcIdentity:
        try:
            pid = parse_pid(str(claims.get("pid", "")))
        except InvalidPid:
            raise OidcRefused("invalid_pid", _TRY_AGAIN) from None
        reference = pid_reference(pid, self.settings)
        subject = f"oidc:{self.settings.issuer}#{claims['sub']}"
        actor = f"oidc:{claims['sub']}"[:64]
        sid = str(claims["sid"]) if claims.get("sid") else None
        with transaction(self.engine) as tx:
            party = tx.conn.execute(
                select(parties.c.id).where(parties.c.pid_ref == reference)
            ).first()
            if party is None:
                # the audit log gets the keyed hash only (never the number), to help support
                tx.audit(
                    actor,
                    "signin.oidc.refused",
                    "pid_hmac",
                    _pid_digest(pid, self.settings),
                    reason="unknown_person",
                )
            else:
                tx.conn.execute(
                    update(parties).where(parties.c.id == party.id).values(idp_subject=subject)
                )
                tx.audit(
                    f"party:{party.id}",
                    "signin.ok",
                    "party",
                    party.id,
                    method=METHOD,
                    acr=str(claims.get("acr")),
                )
        if party is None:
            raise OidcRefused("unknown_person", _NOT_A_CUSTOMER)
        return OidcIdentity(int(party.id), subject, sid, str(claims.get("acr")))


@dataclass(frozen=True, slots=True)
class StaffOidcSettings:
    """The [oidc.staff] section: the company's own provider, for the back office."""

    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    role_claim: str = "groups"  #: the claim holding the person's groups or roles
    staff_role: str = "hanport-staff"  #: the value in it that opens the back office
    scope: str = "openid profile email"
    leeway_s: int = 30
    pending_ttl_s: int = 600

    @classmethod
    def from_config(cls, client: OidcClient, base_url: str) -> StaffOidcSettings:
        scope = client.scope if "email" in client.scope.split() else f"{client.scope} email"
        return cls(
            issuer=client.issuer,
            client_id=client.client_id,
            client_secret=client.client_secret,
            redirect_uri=base_url.rstrip("/") + STAFF_CALLBACK_PATH,
            role_claim=client.role_claim,
            staff_role=client.staff_role,
            scope=scope,
        )


_NOT_STAFF = N_(
    "Your company account does not give access to the back office. Ask your administrator."
)


class StaffOidcSignIn(_RelyingParty):
    """Staff through the company's provider: the back-office role only for members of the
    configured group or role; no staff password in the portal. A member signing in for the
    first time gets a staff account (by the provider's subject, or the staff account with
    that e-mail address); a customer's address is never turned into a staff account."""

    _callback_path = STAFF_CALLBACK_PATH

    def __init__(
        self, engine: Engine, settings: StaffOidcSettings, clock: Callable[[], datetime] = utcnow
    ) -> None:
        super().__init__(engine, settings, clock)
        self.settings = settings

    def _is_staff(self, claims: dict[str, Any]) -> bool:
        granted = claims.get(self.settings.role_claim)
        values = granted if isinstance(granted, list) else str(granted or "").split()
        return self.settings.staff_role in values

    def _identify(self, claims: dict[str, Any]) -> OidcIdentity:
        subject = f"oidc:{self.settings.issuer}#{claims['sub']}"
        actor = f"oidc-staff:{claims['sub']}"[:64]
        email = str(claims.get("email") or "").strip().lower()
        reason = None if self._is_staff(claims) else "not_staff"
        with transaction(self.engine) as tx:
            party = tx.conn.execute(
                select(parties.c.id, parties.c.role).where(parties.c.idp_subject == subject)
            ).first()
            if party is None and email and reason is None:
                party = tx.conn.execute(
                    select(parties.c.id, parties.c.role).where(parties.c.email == email)
                ).first()
                if party is not None and party.role != "staff":
                    reason = "email_in_use"  # a customer's address: never made staff
            if reason is None and party is None and email:
                party_id = inserted_id(
                    tx.conn.execute(
                        parties.insert().values(
                            kind="person",
                            display_name=str(claims.get("name") or email)[:200],
                            email=email,
                            lang="nb",
                            role="staff",
                            idp_subject=subject,
                            created_at=tx.now,
                        )
                    )
                )
                tx.audit(actor, "staff.account_created", "party", party_id)
            elif reason is None and party is not None:
                party_id = int(party.id)
                tx.conn.execute(
                    update(parties)
                    .where(parties.c.id == party_id)
                    .values(idp_subject=subject, role="staff")
                )
            else:
                reason = reason or "no_email"
            if reason is not None:
                tx.audit(
                    actor,
                    "signin.oidc.refused",
                    "oidc_client",
                    self.settings.client_id[:64],
                    reason=reason,
                )
            else:
                tx.audit(f"party:{party_id}", "signin.ok", "party", party_id, method=STAFF_METHOD)
        if reason is not None:
            raise OidcRefused(reason, _NOT_STAFF if reason == "not_staff" else _TRY_AGAIN)
        sid = str(claims["sid"]) if claims.get("sid") else None
        return OidcIdentity(party_id, subject, sid, "", STAFF_METHOD)
