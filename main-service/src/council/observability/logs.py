"""structlog set up once per process: JSON lines off a TTY, readable console on one, stdlib routed through it."""

import logging
import sys

import structlog

from council.settings import LogSettings

SHARED_PROCESSORS: list[structlog.types.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
]


def configure_logging(settings: LogSettings, service: str) -> None:
    """Route structlog and stdlib logging (uvicorn included) into one renderer on stderr."""
    use_json = settings.format == "json" or (settings.format == "auto" and not sys.stderr.isatty())
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*SHARED_PROCESSORS, structlog.stdlib.ExtraAdder()],
        processors=[
            _add_service(service),
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _drop_color_message,
            structlog.processors.format_exc_info if use_json else _keep,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level)
    # uvicorn installs its own handlers unless told otherwise; ours must be the only ones.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # httpx logs every request at INFO; our own lines already say what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Our correlation middleware writes the access line (with the request ID); uvicorn's would be a twin.
    logging.getLogger("uvicorn.access").disabled = True


def _add_service(service: str) -> structlog.types.Processor:
    def add(_: object, __: str, event: structlog.types.EventDict) -> structlog.types.EventDict:
        event.setdefault("service", service)
        return event

    return add


def _keep(_: object, __: str, event: structlog.types.EventDict) -> structlog.types.EventDict:
    return event


def _drop_color_message(_: object, __: str, event: structlog.types.EventDict) -> structlog.types.EventDict:
    # uvicorn adds an ANSI-coloured twin of its message; the event already says it.
    event.pop("color_message", None)
    return event
