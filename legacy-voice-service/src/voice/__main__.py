"""`python -m voice`: serve the voice service with the settings from the environment."""

import uvicorn

from voice.app import create_app
from voice.settings import Settings


def main() -> None:
    settings = Settings()
    uvicorn.run(
        create_app(settings),
        host=settings.server.host,
        port=settings.server.port,
        log_config=None,  # logging is configured by create_app, uvicorn's lines included
        access_log=False,
        # uvicorn refuses a larger frame (1009) from its header, before buffering it (its default allows 16 MiB).
        ws_max_size=settings.realtime.max_frame_bytes,
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
