"""The voice proxy while the voice service is down (a closed port: real refused connections) and its limits.

Its happy path runs against the real voice service in the cross-service suite (tests/test_voice_proxy.py).
"""

import httpx
import pytest

pytestmark = pytest.mark.anyio


async def test_transcribe_while_voice_is_down_is_503_not_500(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/voice/transcribe", files={"file": ("a.wav", b"RIFF....", "audio/wav")})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "voice_unavailable"


async def test_speak_while_voice_is_down_is_503(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/voice/speak", json={"input": "Hello there."})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "voice_unavailable"


async def test_speak_validates_before_calling_voice(client: httpx.AsyncClient) -> None:
    empty = await client.post("/api/voice/speak", json={"input": ""})
    too_fast = await client.post("/api/voice/speak", json={"input": "hi", "speed": 10})
    too_long = await client.post("/api/voice/speak", json={"input": "x" * 5000})
    assert [r.status_code for r in (empty, too_fast)] == [422, 422]
    # Over-long text gets the voice service's own answer (400 text_too_long), without a call to it.
    assert too_long.status_code == 400
    assert too_long.json()["error"]["code"] == "text_too_long"
    assert "COUNCIL_LIMITS__MAX_SPEECH_CHARS" in too_long.json()["error"]["message"]


async def test_transcribe_without_a_file_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/voice/transcribe", data={"language": "en"})
    assert response.status_code == 422
    assert "file" in response.json()["error"]["message"]


async def test_uploads_get_their_own_larger_limit(client: httpx.AsyncClient) -> None:
    two_mib = b"\0" * (2 * 1024 * 1024)  # over the 1 MiB default body limit, under the 25 MiB upload limit
    upload = await client.post("/api/voice/transcribe", files={"file": ("a.wav", two_mib, "audio/wav")})
    other = await client.post("/api/voice/speak", content=two_mib, headers={"content-type": "application/json"})
    assert upload.status_code == 503  # it got through the size check to the (absent) voice service
    assert other.status_code == 413
