"""Who asks: the key a request carries, read once per request by `IdentifyCallerMiddleware` into a `Caller` that
routes, turns, the answer cache and the rate limiter all use.

No key configured: a single-user local install; every request is `LOCAL` and may do everything. Any key
configured: every route but the open ones needs a key; the admin key (`COUNCIL_AUTH__API_KEY`) is `ADMIN`, each
client key (`COUNCIL_AUTH__CLIENT_KEYS`) a client who owns the conversations it creates."""

import base64
import binascii
import secrets
from dataclasses import dataclass

import structlog
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from council.errors import ErrorCode
from council.http_errors import error_response, refuse_handshake
from council.settings import AuthSettings

log = structlog.get_logger(__name__)

# A browser cannot set headers on a WebSocket handshake; it offers the key as a subprotocol instead:
# `new WebSocket(url, ["council", "council.key." + base64url(key)])`. The server answers with `council`.
SUBPROTOCOL = "council"
_KEY_SUBPROTOCOL = "council.key."
_SCOPE_KEY = "council.caller"
# Open whatever the keys: probes, the web page and its assets (it asks for the key), the API's own description.
_OPEN_PATHS = frozenset({"/", "/health/live", "/health/ready", "/docs", "/docs/oauth2-redirect", "/redoc"})
_OPEN_PREFIXES = ("/static/", "/openapi.json")


@dataclass(frozen=True)
class Caller:
    """Who a request is for. `name` owns conversations and scopes the answer cache; `admin` may run KIP agents,
    change KIP and see every conversation."""

    name: str
    admin: bool


LOCAL = Caller("local", admin=True)
"""No key is configured: the one user of a local install."""
ADMIN = Caller("admin", admin=True)


def _offered_subprotocols(headers: Headers) -> list[str]:
    return [protocol.strip() for protocol in headers.get("sec-websocket-protocol", "").split(",")]


def _subprotocol_key(headers: Headers) -> str:
    for encoded in _offered_subprotocols(headers):
        if encoded.startswith(_KEY_SUBPROTOCOL):
            encoded = encoded.removeprefix(_KEY_SUBPROTOCOL)
            try:
                return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
            except (binascii.Error, UnicodeDecodeError):
                return ""
    return ""


def chosen_subprotocol(headers: Headers) -> str | None:
    """What a socket's accept answers: `council` when the browser offered it (it fails the handshake unless one
    of its offers is chosen), else none."""
    return SUBPROTOCOL if SUBPROTOCOL in _offered_subprotocols(headers) else None


def supplied_api_key(headers: Headers) -> str:
    """The key sent as `X-API-Key: KEY`, `Authorization: Bearer KEY` or (WebSockets) a `council.key.*`
    subprotocol; empty when none."""
    bearer = headers.get("authorization", "")
    return (
        headers.get("x-api-key") or (bearer[7:] if bearer[:7].lower() == "bearer " else "") or _subprotocol_key(headers)
    )


class Callers:
    """The configured keys, and who a request's key names."""

    def __init__(self, auth: AuthSettings) -> None:
        self.required = auth.keys_required
        self._keys: list[tuple[bytes, Caller]] = [
            *([(auth.api_key.get_secret_value().encode(), ADMIN)] if auth.api_key is not None else []),
            *((key.get_secret_value().encode(), Caller(name, admin=False)) for name, key in auth.client_keys.items()),
        ]

    def identify(self, headers: Headers) -> Caller | None:
        """The caller the key names (LOCAL when no key is configured); None for a missing or unknown key. Every
        configured key is compared in constant time, so the time taken tells nothing about any of them."""
        if not self.required:
            return LOCAL
        supplied = supplied_api_key(headers).encode()
        found: Caller | None = None
        for key, named in self._keys:
            if secrets.compare_digest(supplied, key):
                found = named
        return found


def caller_in(scope: Scope) -> Caller | None:
    """The caller `IdentifyCallerMiddleware` found for this request; None without a valid key."""
    found: Caller | None = scope.get(_SCOPE_KEY)
    return found


def caller(connection: HTTPConnection) -> Caller:
    found = caller_in(connection.scope)
    if found is None:  # RequireKeyMiddleware refused it, unless on an open path, where no route asks
        raise RuntimeError(f"no caller identified for {connection.url.path}")
    return found


class IdentifyCallerMiddleware:
    """Reads who asks once per request (the caller, or None without a valid key) for everything inside it: the
    rate limiter's bucket, `RequireKeyMiddleware`, routes and turns."""

    def __init__(self, app: ASGIApp, callers: Callers) -> None:
        self.app = app
        self.callers = callers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope[_SCOPE_KEY] = self.callers.identify(Headers(scope=scope))
        await self.app(scope, receive, send)


class RequireKeyMiddleware:
    """Refuses a request without a valid key when keys are configured: 401 `unauthorized` (a WebSocket handshake
    gets the same 401, or a 1008 close where the server cannot send one). Health, the web page, its assets and the
    API docs stay open; /metrics too unless COUNCIL_AUTH__METRICS_NEED_KEY. It sits inside the rate limiter, so
    guessing keys counts against the guesser's address."""

    def __init__(self, app: ASGIApp, *, metrics_need_key: bool) -> None:
        self.app = app
        self.open_paths = _OPEN_PATHS if metrics_need_key else _OPEN_PATHS | {"/metrics"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] not in ("http", "websocket")
            or caller_in(scope) is not None
            or scope["path"] in self.open_paths
            or scope["path"].startswith(_OPEN_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        log.info("request_unauthorized", path=scope["path"], key_sent=bool(supplied_api_key(Headers(scope=scope))))
        response = error_response(
            401,
            ErrorCode.UNAUTHORIZED,
            "This service needs a key: send `Authorization: Bearer KEY` or `X-API-Key: KEY` "
            "(a browser's WebSocket: the subprotocol `council.key.<base64url(KEY)>`).",
            {"WWW-Authenticate": "Bearer"},
        )
        if scope["type"] == "websocket":
            await refuse_handshake(scope, receive, send, response, close_code=1008, reason="unauthorized")
            return
        await response(scope, receive, send)
