"""Browser-facing protections: security headers on every response, a CORS allow-list from settings, and the same
allow-list (or this origin) required of WebSocket handshakes that come from a browser."""

from collections.abc import Sequence
from urllib.parse import urlsplit

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger(__name__)

CLOSE_POLICY_VIOLATION = 1008
_DEFAULT_PORTS = {"http": 80, "https": 443}

# The web UI is served from this origin and needs the microphone for push-to-talk; nothing else is loaded.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "microphone=(self), camera=(), geolocation=()",
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self' ws: wss:; media-src 'self' blob:; img-src 'self' data:; "
        "style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
}
# Swagger UI (/docs) loads its assets from a CDN; a strict CSP would blank that page, so it gets none.
_CSP_EXEMPT_PREFIXES = ("/docs", "/redoc")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exempt = scope["path"].startswith(_CSP_EXEMPT_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if not (exempt and name == "Content-Security-Policy"):
                        headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _origin(value: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a web origin such as `https://app.example`; None when it is not one (e.g. `null`)."""
    try:
        parts = urlsplit(value.strip().rstrip("/"))
        port = parts.port
    except ValueError:  # a port that is not a number, or a malformed IPv6 host
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port or _DEFAULT_PORTS[parts.scheme]


def is_same_origin(origin: str, host: str | None) -> bool:
    """Whether `origin` names the host the request was sent to (its `Host` header).

    A `Host` without a port takes the origin's default one, so a page served over TLS by a proxy in front of us
    (`Origin: https://council.example`, `Host: council.example`) still counts as this origin.
    """
    parsed = _origin(origin)
    if parsed is None or not host:
        return False
    scheme, hostname, port = parsed
    try:
        target = urlsplit(f"//{host}")
        target_port = target.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        return False
    return (target.hostname, target_port) == (hostname, port)


class WebSocketOriginMiddleware:
    """Refuses a WebSocket handshake from another site's page (cross-site WebSocket hijacking).

    Browsers always send `Origin` with a handshake, and no CORS protects a WebSocket: without this check any page
    the user visits could open `/ws/chat` from the user's network position. A handshake with an `Origin` must come
    from this origin or one in the CORS allow-list; clients that send no `Origin` (not browsers) are let through.
    """

    def __init__(self, app: ASGIApp, allowed_origins: Sequence[str]) -> None:
        self.app = app
        self.allow_any = "*" in allowed_origins
        self.allowed = {parsed for origin in allowed_origins if (parsed := _origin(origin)) is not None}

    def allows(self, origin: str, host: str | None) -> bool:
        return self.allow_any or is_same_origin(origin, host) or _origin(origin) in self.allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None or self.allows(origin, headers.get("host")):
            await self.app(scope, receive, send)
            return
        log.warning("websocket_origin_refused", path=scope["path"], origin=origin[:200])
        # Closing before accepting refuses the handshake itself (uvicorn answers it with 403).
        await send({"type": "websocket.close", "code": CLOSE_POLICY_VIOLATION, "reason": "origin not allowed"})
