"""The application factory: middleware, error handlers and routers; no logic of its own."""

from fastapi import FastAPI

from council import __version__
from council.api.main import api_router
from council.body_limit import BodyLimitMiddleware
from council.errors import CatchAllMiddleware, install_error_handlers
from council.lifespan import build_lifespan
from council.observability.correlation import RequestContextMiddleware
from council.observability.logs import configure_logging
from council.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log, service="main")
    app = FastAPI(title="Hybrid AI Council", version=__version__, lifespan=build_lifespan(settings))
    install_error_handlers(app)
    # Added innermost first: correlation wraps everything, so even a 413 or a 500 carries the request ID.
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.limits.max_body_bytes)
    app.add_middleware(CatchAllMiddleware)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(api_router)
    return app
