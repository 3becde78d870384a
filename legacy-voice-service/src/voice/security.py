"""What a browser may do here: nothing. A `Host` allow-list (DNS rebinding), no WebSocket handshake and no
state-changing request from another site's page unless its origin is listed, and headers that forbid framing,
sniffing and loading anything.

The voice service is called by the main service (and other programs), which send no `Origin`; its only page is
/docs, whose own origin (on an allowed host) is allowed, as the main service allows its own."""

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voice.errors import ErrorCode
from voice.http_errors import HTTPMiddleware, error_response
from voice.origins import HostAllowList, OriginPolicy, host_name

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


class CrossSiteMiddleware:
    """Refuses what another site's page may send without asking, before routing: a WebSocket handshake with a foreign
    `Origin` (no CORS protects a socket; closed before it is accepted, which uvicorn answers with 403), and a
    state-changing request (a form or multipart post needs no preflight) with 403 `origin_not_allowed`, judged by
    its headers alone, before its body is read."""

    def __init__(self, app: ASGIApp, policy: OriginPolicy) -> None:
        self.app = app
        self.policy = policy

    def _allows(self, scope: Scope, headers: Headers) -> bool:
        if scope["type"] == "http":
            return self.policy.allows_request(scope["method"], headers)
        origin = headers.get("origin")
        return origin is None or self.policy.allows(origin, headers.get("host"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if self._allows(scope, headers):
            await self.app(scope, receive, send)
            return
        origin, site = headers.get("origin"), headers.get("sec-fetch-site")
        log.warning(
            "cross_site_refused",
            method=scope.get("method", "GET"),
            path=scope["path"],
            origin=(origin or "")[:200],
            fetch_site=(site or "")[:40],
        )
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": CLOSE_POLICY_VIOLATION, "reason": "origin not allowed"})
            return
        message = (
            "A page of another site may not change anything here; to let a web app call this service, list its "
            "origin in VOICE_SECURITY__ALLOWED_ORIGINS."
        )
        await error_response(403, ErrorCode.ORIGIN_NOT_ALLOWED, message)(scope, receive, send)


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
