"""The listening socket's client against a stand-in voice service over a real WebSocket: what it asks for."""

import anyio
import pytest
from pydantic import AnyHttpUrl

from council.settings import VoiceClientSettings
from council.voice import VoiceClient
from council.voice.realtime import Listener, TurnDetection
from tests.voice.standin import VoiceStandIn

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("detection", "read_words", "turn_detection"),
    [
        ("semantic", False, {"type": "semantic_vad", "text_end_of_turn": "rules"}),
        ("semantic", True, {"type": "semantic_vad", "text_end_of_turn": "client"}),  # it will read pauses' words
        ("silence", True, {"type": "server_vad", "silence_duration_ms": 700}),
    ],
)
async def test_the_listener_asks_for_its_turn_detection_and_no_word_timestamps(
    detection: TurnDetection, read_words: bool, turn_detection: dict[str, object]
) -> None:
    with VoiceStandIn().running() as standin:
        client = VoiceClient(VoiceClientSettings(base_url=AnyHttpUrl(standin.url)))
        try:
            listener = await Listener.open(client, 16_000)
            await listener.configure(detection, 0.7, read_words=read_words)
            with anyio.fail_after(10):
                while not standin.listening_events:  # noqa: ASYNC110  # the stand-in serves from its own thread
                    await anyio.sleep(0.01)
            await listener.aclose()
        finally:
            await client.aclose()

    # The main service never reads the words' times: the voice service is told to spare that pass.
    assert standin.listening_events == [
        {
            "type": "session.update",
            "session": {"turn_detection": turn_detection, "input_audio_transcription": {"word_timestamps": False}},
        }
    ]
