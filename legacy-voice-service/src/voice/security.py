"""What a browser may do here: nothing. A `Host` allow-list (DNS rebinding), no WebSocket handshake from a web
page unless its origin is listed, and headers that forbid framing, sniffing and loading anything.

The voice service is called by the main service (and other programs), never by a page of its own, so unlike the
main service it has no same-origin case to allow."""

from collections.abc import Sequence
from urllib.parse import urlsplit

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voice.errors import ErrorCode
from voice.http_errors import HTTPMiddleware, error_response

log = structlog.get_logger(__name__)

CLOSE_POLICY_VIOLATION = 1008
# Orchestrators probe a replica by its own address (Kubernetes: the pod IP), which no allow-list can know; the
# probes return only health, so they answer whatever the Host.
_HOST_EXEMPT_PATHS = ("/health/live", "/health/ready")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
}
# Swagger UI (/docs) loads its assets from a CDN; a strict CSP would blank that page, so it gets none.
_CSP_EXEMPT_PREFIXES = ("/docs", "/redoc")


def host_name(host: str | None) -> str | None:
    """The name in a `Host` header or an origin's authority, lower-case, without port; None if malformed."""
    if not host:
        return None
    try:
        parts = urlsplit(f"//{host}")
        parts.port  # noqa: B018  # raises ValueError on a port that is not a number
    except ValueError:
        return None
    return parts.hostname or None


class HostAllowList:
    """The names this service answers to: exact names, `*.example.com` for its subdomains, or `*` for any."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.allow_any = "*" in patterns
        names = [pattern.strip().lower().strip("[]") for pattern in patterns]
        self.exact = {name for name in names if not name.startswith("*.")}
        self.suffixes = tuple(name[1:] for name in names if name.startswith("*."))

    def allows(self, name: str | None) -> bool:
        if self.allow_any:
            return True
        return name is not None and (name in self.exact or name.endswith(self.suffixes))


class AllowedHostsMiddleware:
    """Refuses a request or handshake sent to a name that is not ours (400 `host_not_allowed`; a socket: 403),
    before routing: a page that rebinds its own name to this machine still sends that name in `Host`."""

    def __init__(self, app: ASGIApp, hosts: HostAllowList) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in _HOST_EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host")
        if self.hosts.allows(host_name(host)):
            await self.app(scope, receive, send)
            return
        log.warning("host_refused", path=scope["path"], host=(host or "")[:200])
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": CLOSE_POLICY_VIOLATION, "reason": "host not allowed"})
            return
        message = "This service does not answer to that Host; add it to VOICE_SECURITY__ALLOWED_HOSTS."
        await error_response(400, ErrorCode.HOST_NOT_ALLOWED, message)(scope, receive, send)


def _origin(value: str) -> tuple[str, str | None, int | None] | None:
    try:
        parts = urlsplit(value.strip().rstrip("/").lower())
        return parts.scheme, parts.hostname, parts.port
    except ValueError:
        return None


class WebSocketOriginMiddleware:
    """Refuses a handshake that carries an `Origin` (a web page's) unless that origin is listed; programs, which send
    no `Origin`, are let through. No CORS protects a WebSocket, so without this any page could open `/v1/realtime`."""

    def __init__(self, app: ASGIApp, allowed_origins: Sequence[str]) -> None:
        self.app = app
        self.allow_any = "*" in allowed_origins
        self.allowed = {parsed for origin in allowed_origins if (parsed := _origin(origin)) is not None}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = Headers(scope=scope).get("origin") if scope["type"] == "websocket" else None
        if origin is None or self.allow_any or _origin(origin) in self.allowed:
            await self.app(scope, receive, send)
            return
        log.warning("websocket_origin_refused", path=scope["path"], origin=origin[:200])
        await send({"type": "websocket.close", "code": CLOSE_POLICY_VIOLATION, "reason": "origin not allowed"})


class SecurityHeadersMiddleware(HTTPMiddleware):
    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        exempt = scope["path"].startswith(_CSP_EXEMPT_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if not (exempt and name == "Content-Security-Policy"):
                        headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
