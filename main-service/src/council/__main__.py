"""`python -m council`: serve the main service with the settings from the environment."""

import uvicorn

from council.app import create_app
from council.settings import Settings


def main() -> None:
    settings = Settings()
    uvicorn.run(
        create_app(settings),
        host=settings.server.host,
        port=settings.server.port,
        log_config=None,  # logging is configured by create_app, uvicorn's lines included
        access_log=False,
        timeout_graceful_shutdown=5,
        ws_max_size=settings.ws.max_message_bytes,
        ws_ping_interval=settings.ws.ping_interval_s,
        ws_ping_timeout=settings.ws.ping_interval_s,
    )


if __name__ == "__main__":
    main()
