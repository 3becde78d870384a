"""Speech is streamed as it is synthesized, and a stream that is left early gives its engine slot back."""

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.conftest import Server, wait_for

LONG_TEXT = " ".join(f"This is sentence number {n} of a long answer from the council." for n in range(1, 25))
IN_PROGRESS = 'voice_synthesis_in_progress{engine="piper"}'
PIECES = 'voice_synthesized_pieces_total{engine="piper"}'
RUNNING = 'voice_engine_running_jobs{engine="piper"}'


def speech(server: Server, text: str, response_format: str = "pcm") -> httpx.Request:
    body = {"model": "tts-1", "voice": "en_US-joe-medium", "input": text, "response_format": response_format}
    return httpx.Request("POST", f"{server.url}/v1/audio/speech", json=body, headers=server.headers)


@contextmanager
def streamed_speech(server: Server, response_format: str, content_type: str) -> Iterator[Iterator[bytes]]:
    """LONG_TEXT's speech as the raw chunks of a chunked `content_type` response, to be read as they come."""
    with httpx.Client(timeout=60) as client:
        response = client.send(speech(server, LONG_TEXT, response_format), stream=True)
        try:
            assert response.status_code == 200
            assert response.headers["content-type"] == content_type
            assert response.headers.get("transfer-encoding") == "chunked"
            yield response.iter_raw()
        finally:
            response.close()


def test_first_audio_arrives_while_synthesis_is_still_running(server: Server) -> None:
    before = server.metric(PIECES, absent=0.0)
    with streamed_speech(server, "pcm", "audio/pcm") as chunks:
        first = next(chunks)
        # The server says, at this moment, that this synthesis has not finished, and how far it has got.
        assert server.metric(IN_PROGRESS) == 1
        made_by_first_audio = server.metric(PIECES) - before
        rest = b"".join(chunks)
    made_in_all = server.metric(PIECES) - before
    assert 0 < len(first) < len(rest) / 10
    assert server.metric(IN_PROGRESS) == 0
    # Synthesizing everything first and then sending it in pieces would have made all 24 sentences by now.
    assert made_in_all >= 24
    assert made_by_first_audio < made_in_all / 2, (made_by_first_audio, made_in_all)


def test_a_full_engine_queue_answers_429_with_retry_after(server: Server) -> None:
    # The session server allows one job per engine and no queue (VOICE_LIMITS__MAX_QUEUED_JOBS=0).
    with httpx.Client(timeout=60) as client:
        holder = client.send(speech(server, LONG_TEXT), stream=True)
        next(holder.iter_raw())
        refused = client.send(speech(server, "Am I next?"))
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "2"
        assert refused.json()["error"]["code"] == "rate_limited"
        holder.close()  # leaving early must release the slot
    wait_for(
        lambda: server.metric(RUNNING) == 0 and server.metric(IN_PROGRESS) == 0,
        "release the engine slot after the client left",
    )
    with httpx.Client(timeout=60) as client:
        assert client.send(speech(server, "Now it is my turn.")).status_code == 200
