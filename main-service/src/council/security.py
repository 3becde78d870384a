"""Browser-facing protections: a `Host` allow-list (DNS rebinding), security headers on every response, a CORS
allow-list from settings, and the same allow-list (or this origin, on an allowed host) required of whatever another
page could send on a user's behalf: WebSocket handshakes and state-changing requests."""

import ipaddress

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from council.errors import ErrorCode
from council.http_errors import HTTPMiddleware, error_response
from council.origins import HostAllowList, OriginPolicy, host_name

log = structlog.get_logger(__name__)

CLOSE_POLICY_VIOLATION = 1008

# The web UI is served from this origin and needs the microphone for push-to-talk; nothing else is loaded.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "microphone=(self), camera=(), geolocation=()",
    "Content-Security-Policy": (
        # `'self'` covers this origin's own ws:/wss: (CSP 3), the only sockets the page opens.
        "default-src 'self'; connect-src 'self'; media-src 'self'; img-src 'self' data:; "
        "style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
}
# Swagger UI (/docs) loads its assets from a CDN; a strict CSP would blank that page, so it gets none.
_CSP_EXEMPT_PREFIXES = ("/docs", "/redoc")


# Orchestrators probe a replica by its own address (Kubernetes: the pod IP), which no allow-list can know; the
# probes return only health, so they answer whatever the Host.
_HOST_EXEMPT_PATHS = ("/health/live", "/health/ready")


def is_loopback(host: str) -> bool:
    """Whether an interface to bind (`COUNCIL_SERVER__HOST`) serves this machine only: `localhost`, 127.0.0.0/8, ::1."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:  # a name other than localhost, or `` (every interface)
        return False


class AllowedHostsMiddleware:
    """Refuses a request or WebSocket handshake sent to a name that is not ours, before routing.

    A page on another site can rebind its own name to 127.0.0.1 and then call a local install as if it were
    same-origin (DNS rebinding); its requests still carry that site's name in `Host`, which is how they are told
    apart. HTTP gets 400 `host_not_allowed`; a handshake is closed before it is accepted (403).
    """

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
        message = "This service does not answer to that Host; add it to COUNCIL_SECURITY__ALLOWED_HOSTS."
        await error_response(400, ErrorCode.HOST_NOT_ALLOWED, message)(scope, receive, send)


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


class CrossSiteRequestMiddleware(HTTPMiddleware):
    """Refuses a state-changing request from another site's page (cross-site request forgery) with 403
    `origin_not_allowed`.

    CORS only stops a page from reading the answer: a form or multipart post needs no preflight, so without this the
    request would run (with no key configured, as the local user) whatever page sent it. JSON, form and multipart
    bodies are judged alike, by the headers alone, before the body is read or the request counted against anyone's
    rate limit.
    """

    def __init__(self, app: ASGIApp, policy: OriginPolicy) -> None:
        super().__init__(app)
        self.policy = policy

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        if self.policy.allows_request(scope["method"], headers):
            await self.app(scope, receive, send)
            return
        origin, site = headers.get("origin"), headers.get("sec-fetch-site")
        log.warning(
            "cross_site_refused",
            method=scope["method"],
            path=scope["path"],
            origin=(origin or "")[:200],
            fetch_site=(site or "")[:40],
        )
        message = (
            "A page of another site may not change anything here; to let a web app call this API, "
            "list its origin in COUNCIL_SECURITY__CORS_ALLOW_ORIGINS."
        )
        await error_response(403, ErrorCode.ORIGIN_NOT_ALLOWED, message)(scope, receive, send)


class WebSocketOriginMiddleware:
    """Refuses a WebSocket handshake from another site's page (cross-site WebSocket hijacking).

    Browsers always send `Origin` with a handshake, and no CORS protects a WebSocket: without this check any page
    the user visits could open `/ws/chat` from the user's network position. A handshake with an `Origin` must come
    from a page the `OriginPolicy` allows; clients that send no `Origin` (not browsers) are let through.
    """

    def __init__(self, app: ASGIApp, policy: OriginPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None or self.policy.allows(origin, headers.get("host")):
            await self.app(scope, receive, send)
            return
        log.warning("websocket_origin_refused", path=scope["path"], origin=origin[:200])
        # Closing before accepting refuses the handshake itself (uvicorn answers it with 403).
        await send({"type": "websocket.close", "code": CLOSE_POLICY_VIOLATION, "reason": "origin not allowed"})
