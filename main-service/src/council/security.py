"""Browser-facing protections: a `Host` allow-list (DNS rebinding), security headers on every response, a CORS
allow-list from settings, and the same allow-list (or this origin, on an allowed host) required of whatever another
page could send on a user's behalf: WebSocket handshakes and state-changing requests."""

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from council.errors import ErrorCode
from council.http_errors import HTTPMiddleware, error_response

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


def host_name(host: str | None) -> str | None:
    """The name in a `Host` header, lower-case and without its port (`[::1]:8000` -> `::1`); None if malformed."""
    if not host:
        return None
    try:
        parts = urlsplit(f"//{host}")
        parts.port  # noqa: B018  # raises ValueError on a port that is not a number
    except ValueError:
        return None
    return parts.hostname or None


def is_loopback(host: str) -> bool:
    """Whether an interface to bind (`COUNCIL_SERVER__HOST`) serves this machine only: `localhost`, 127.0.0.0/8, ::1."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:  # a name other than localhost, or `` (every interface)
        return False


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


# What a page may cause without a preflight (a form or multipart post among them): the methods that change state.
_STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_OTHER_SITE = frozenset({"cross-site", "same-site"})  # Sec-Fetch-Site: not this origin (`same-site`: a sibling)


class OriginPolicy:
    """Which web pages may act on this service: those whose origin is in the CORS allow-list, and this very origin
    on a name of the host allow-list (never merely whatever `Host` says: a rebound name would match itself)."""

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
        return parsed is not None and self.hosts.allows(parsed[1]) and is_same_origin(origin, host)

    def allows_request(self, method: str, headers: Headers) -> bool:
        """Whether a request may change state: it is a read, or no page of another site sent it.

        Browsers send `Origin` with every POST, PUT, PATCH and DELETE, and `Sec-Fetch-Site` where they support it;
        programs (curl, SDKs, the main service's own clients) send neither and pass. A request the browser calls
        `cross-site` acts only for a listed origin (this origin cannot be another site); `same-site` (a sibling
        name, or another port of this one: another local app) is another origin, so it needs an allowed `Origin`
        like any other page.
        """
        if method not in _STATE_CHANGING:
            return True
        origin, site = headers.get("origin"), headers.get("sec-fetch-site")
        if origin is None:
            return site not in _OTHER_SITE
        return self.is_listed(origin) if site == "cross-site" else self.allows(origin, headers.get("host"))


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
