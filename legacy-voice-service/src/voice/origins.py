"""Who is asking, as a browser says it: the names this service answers to (`HostAllowList`), and which web pages may
act on it (`OriginPolicy`: the listed origins, and this very origin on an allowed name). A twin of the other
service's module of the same name (scripts/twin-diff holds them alike); `security.py` holds the middleware."""

from collections.abc import Sequence
from urllib.parse import urlsplit

from starlette.datastructures import Headers

_DEFAULT_PORTS = {"http": 80, "https": 443}
# What a page may cause without a preflight (a form or multipart post among them): the methods that change state.
_STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_OTHER_SITE = frozenset({"cross-site", "same-site"})  # Sec-Fetch-Site: not this origin (`same-site`: a sibling)


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
    (`Origin: https://voice.example`, `Host: voice.example`) still counts as this origin.
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


class OriginPolicy:
    """Which web pages may act on this service: those whose origin is listed, and this very origin on a name of the
    host allow-list (never merely whatever `Host` says: a rebound name would match itself)."""

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
        programs (curl, SDKs, the services' own clients) send neither and pass. A request the browser calls
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
