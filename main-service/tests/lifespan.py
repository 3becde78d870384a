"""The app with its lifespan running, for in-process tests.

asgi-lifespan gives a startup 5 s by default; this app's startup loads three llama.cpp contexts (and, on a fresh
checkout, re-quantizes the bundled model once), which takes longer than that on 2 busy cores. A startup that fails
still fails at once: the timeout only bounds one that hangs."""

from asgi_lifespan import LifespanManager
from starlette.types import ASGIApp

STARTUP_TIMEOUT_S = 120


def app_started(app: ASGIApp) -> LifespanManager:
    return LifespanManager(app, startup_timeout=STARTUP_TIMEOUT_S)
