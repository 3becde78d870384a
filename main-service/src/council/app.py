"""The application factory: middleware, error handlers and routers; no logic of its own."""

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from council import __version__
from council.api.main import api_router
from council.api.voice import TRANSCRIBE_PATH
from council.api.web import WEB_DIR
from council.auth import Callers, IdentifyCallerMiddleware, RequireKeyMiddleware
from council.body_limit import BodyLimitMiddleware, HeaderLimitMiddleware
from council.http_errors import CatchAllMiddleware, install_error_handlers
from council.lifespan import build_lifespan
from council.observability.correlation import RequestContextMiddleware
from council.observability.logs import configure_logging
from council.observability.metrics import HttpMetricsMiddleware, Metrics
from council.origins import HostAllowList, OriginPolicy
from council.ratelimit import RateLimiter, RateLimitMiddleware
from council.security import (
    AllowedHostsMiddleware,
    CrossSiteRequestMiddleware,
    SecurityHeadersMiddleware,
    WebSocketOriginMiddleware,
)
from council.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log, service="main")
    metrics = Metrics()
    rate_limiter = RateLimiter(settings.rate_limit) if settings.rate_limit.enabled else None
    app = FastAPI(
        title="Hybrid AI Council", version=__version__, lifespan=build_lifespan(settings, metrics, rate_limiter)
    )
    install_error_handlers(app)
    # Added innermost first. Correlation wraps everything, so even a 413, 429 or 500 carries the request ID, and
    # so do the security headers; CORS sits outside the limits and the catch-all so that a browser can read their
    # errors. A cross-site WebSocket handshake or state-changing request is refused before it counts against anyone's
    # rate limit (a page must not spend the local user's).
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=settings.limits.max_body_bytes,
        upload_paths={TRANSCRIBE_PATH: (settings.limits.max_upload_bytes, "COUNCIL_LIMITS__MAX_UPLOAD_BYTES")},
    )
    app.add_middleware(HeaderLimitMiddleware, max_header_bytes=settings.limits.max_header_bytes)
    # Inside the rate limiter: a request without a valid key gets its 401 after it was counted (guessing keys is
    # limited like any other request).
    app.add_middleware(RequireKeyMiddleware, metrics_need_key=settings.auth.metrics_need_key)
    if rate_limiter is not None:
        app.add_middleware(RateLimitMiddleware, limiter=rate_limiter)
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)
    hosts = HostAllowList(settings.security.allowed_hosts)
    origins = OriginPolicy(settings.security.cors_allow_origins, hosts)
    app.add_middleware(WebSocketOriginMiddleware, policy=origins)
    app.add_middleware(CrossSiteRequestMiddleware, policy=origins)
    app.add_middleware(CatchAllMiddleware)
    # Who asks is read once, before anything is counted or routed.
    app.add_middleware(IdentifyCallerMiddleware, callers=Callers(settings.auth))
    # A request to a name that is not ours (DNS rebinding) reaches no route and no rate limit; its 400 still
    # carries the request ID and the security headers.
    app.add_middleware(AllowedHostsMiddleware, hosts=hosts)
    if settings.security.cors_allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.security.cors_allow_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-API-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    if settings.security.security_headers:
        app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(api_router)
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    return app
