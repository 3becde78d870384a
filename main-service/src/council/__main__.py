"""`python -m council`: serve the main service with the settings from the environment."""

import uvicorn

from council.app import create_app
from council.security import is_loopback
from council.settings import Settings

# uvicorn closes a larger WebSocket message itself (1009) as soon as a frame header announces it, instead of buffering
# up to its default 16 MiB for the sessions' own checks; the headroom leaves a frame just over a limit to those
# checks, whose close reason says which limit it broke.
WS_HEADROOM_BYTES = 4096


def ws_max_size(settings: Settings) -> int:
    """The largest WebSocket message uvicorn reads: /ws/chat's text frames or /ws/voice's PCM frames, with headroom."""
    return max(settings.ws.max_message_bytes, settings.voice_ws.max_frame_bytes) + WS_HEADROOM_BYTES


def refusal_to_serve(settings: Settings) -> str | None:
    """Why the service will not serve as configured: with no key, whoever reaches a non-loopback port is the admin."""
    if settings.auth.keys_required or is_loopback(settings.server.host):
        return None
    if settings.security.allow_unauthenticated_network:
        return None
    return (
        f"Refusing to serve on {settings.server.host} with no key configured: anyone who reaches this port would be "
        "the admin. Set COUNCIL_AUTH__API_KEY (and COUNCIL_AUTH__CLIENT_KEYS), bind COUNCIL_SERVER__HOST=127.0.0.1, "
        "or, where only this machine reaches the port (a container published on the host's loopback), set "
        "COUNCIL_SECURITY__ALLOW_UNAUTHENTICATED_NETWORK=true."
    )


def main() -> None:
    settings = Settings()
    if refused := refusal_to_serve(settings):
        raise SystemExit(refused)  # before anything loads: the message is the last line the operator sees
    uvicorn.run(
        create_app(settings),
        host=settings.server.host,
        port=settings.server.port,
        log_config=None,  # logging is configured by create_app, uvicorn's lines included
        access_log=False,
        timeout_graceful_shutdown=5,
        ws_max_size=ws_max_size(settings),
        ws_ping_interval=settings.ws.ping_interval_s,
        ws_ping_timeout=settings.ws.ping_interval_s,
    )


if __name__ == "__main__":
    main()
