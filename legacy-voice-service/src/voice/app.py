"""The application factory: middleware, error handlers and routers; no logic of its own."""

from fastapi import FastAPI

from voice import __version__
from voice.api.main import api_router
from voice.body_limit import BodyLimitMiddleware, HeaderLimitMiddleware
from voice.http_errors import CatchAllMiddleware, install_error_handlers
from voice.lifespan import build_lifespan
from voice.observability.correlation import RequestContextMiddleware
from voice.observability.logs import configure_logging
from voice.origins import HostAllowList, OriginPolicy
from voice.security import (
    AllowedHostsMiddleware,
    CrossSiteMiddleware,
    SecurityHeadersMiddleware,
)
from voice.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log, service="voice")
    app = FastAPI(title="Hybrid AI Council voice service", version=__version__, lifespan=build_lifespan(settings))
    install_error_handlers(app)
    # Added innermost first: correlation wraps everything, so even a 413 or a 500 carries the request ID and the
    # security headers; a foreign Host or another site's page reaches no route.
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.limits.max_body_bytes)
    app.add_middleware(HeaderLimitMiddleware, max_header_bytes=settings.limits.max_header_bytes)
    hosts = HostAllowList(settings.security.allowed_hosts)
    app.add_middleware(CrossSiteMiddleware, policy=OriginPolicy(settings.security.allowed_origins, hosts))
    app.add_middleware(CatchAllMiddleware)
    app.add_middleware(AllowedHostsMiddleware, hosts=hosts)
    if settings.security.security_headers:
        app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(api_router)
    return app
