"""What a browser may do here: nothing. A `Host` allow-list (DNS rebinding), no WebSocket handshake and no
state-changing request from another site's page unless its origin is listed, and headers that forbid framing,
sniffing and loading anything.

The voice service is called by the main service (and other programs), which send no `Origin`; its only page is
/docs, whose own origin (on an allowed host) is allowed, as the main service allows its own."""

from collections.abc import Sequence
from urllib.parse import urlsplit

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voice.errors import ErrorCode
from voice.http_errors import HTTPMiddleware, error_response

log = structlog.get_logger(__name__)

CLOSE_POLICY_VIOLATION = 1008
_DEFAULT_PORTS = {"http": 80, "https": 443}
# What a page may cause without a preflight (a form or multipart post among them): the methods that change state.
_STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_OTHER_SITE = frozenset({"cross-site", "same-site"})  # Sec-Fetch-Site: not this origin (`same-site`: a sibling)
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


def _is_same_origin(origin: tuple[str, str, int], host: str | None) -> bool:
    """Whether `origin` names the host the request was sent to (its `Host`, which takes the origin's default port)."""
    if not host:
        return False
    scheme, hostname, port = origin
    try:
        target = urlsplit(f"//{host}")
        target_port = target.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        return False
    return (target.hostname, target_port) == (hostname, port)


class OriginPolicy:
    """Which web pages may act on this service: the listed origins, and this very origin on a name of the host
    allow-list (the service's own /docs page; never merely whatever `Host` says: a rebound name would match itself).
    The main service's `OriginPolicy` decides alike, from its CORS allow-list."""

    def __init__(self, allowed_origins: Sequence[str], hosts: HostAllowList) -> None:
        self.allow_any = "*" in allowed_origins
        self.listed = {parsed for origin in allowed_origins if (parsed := _origin(origin)) is not None}
        self.hosts = hosts

    def is_listed(self, origin: str) -> bool:
        return self.allow_any or _origin(origin) in self.listed

    def allows(self, origin: str, host: str | None) -> bool:
        if self.is_listed(origin):
            return True
        parsed = _origin(origin)
        return parsed is not None and self.hosts.allows(parsed[1]) and _is_same_origin(parsed, host)

    def allows_request(self, method: str, headers: Headers) -> bool:
        """Whether a request may change state: it is a read, or no page of another site sent it.

        Browsers send `Origin` with every POST, PUT, PATCH and DELETE, and `Sec-Fetch-Site` where they support it;
        programs (the main service, curl, SDKs) send neither and pass. A request the browser calls `cross-site` acts
        only for a listed origin; `same-site` (a sibling name, or another port of this one: another local app) is
        another origin, so it needs an allowed `Origin` like any other page."""
        if method not in _STATE_CHANGING:
            return True
        origin, site = headers.get("origin"), headers.get("sec-fetch-site")
        if origin is None:
            return site not in _OTHER_SITE
        return self.is_listed(origin) if site == "cross-site" else self.allows(origin, headers.get("host"))


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
