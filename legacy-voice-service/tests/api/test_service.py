"""Models, voices, VAD, the service token and metrics on the running service."""

import io
import json
import wave

import httpx
import numpy as np
import pytest
from openai import AuthenticationError, OpenAI

from tests.conftest import Server


def test_models_list_every_engine_with_its_state(openai_client: OpenAI) -> None:
    models = {model.id: model for model in openai_client.models.list()}
    assert set(models) == {"whisper-tiny.en", "piper", "silero-vad-v6", "smart-turn-v3.2", "silence"}
    assert all(getattr(model, "status", None) == "ready" for model in models.values())
    assert "GPL-3.0-or-later" in str(getattr(models["piper"], "licence", ""))
    assert getattr(models["smart-turn-v3.2"], "task", None) == "turn"
    assert "BSD-2-Clause" in str(getattr(models["smart-turn-v3.2"], "licence", ""))


def test_voices_follow_the_speaches_convention(server: Server) -> None:
    body = httpx.get(f"{server.url}/v1/audio/voices", headers=server.headers).json()
    assert body == {
        "voices": [
            {
                "id": "en_US-joe-medium",
                "engine": "piper",
                "language": "en_US",
                "sample_rate": 22050,
                "name": "Joe",
                "role": None,
            }
        ]
    }


def test_vad_finds_the_speech_between_silences(server: Server, openai_client: OpenAI) -> None:
    speech = openai_client.audio.speech.create(
        model="tts-1", voice="en_US-joe-medium", input="Find me in the silence.", response_format="pcm"
    ).content
    silence = b"\0" * (2 * 24_000)  # one second at 24 kHz
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(24_000)
        out.writeframes(silence + speech + silence)
    speech_seconds = len(speech) / 2 / 24_000
    body = httpx.post(
        f"{server.url}/v1/audio/vad", files={"file": ("a.wav", buffer.getvalue())}, headers=server.headers
    ).json()
    assert len(body["segments"]) == 1
    segment = body["segments"][0]
    assert 0.6 < segment["start"] < 1.2  # speech starts after one second, less Silero's padding
    assert 0.8 + speech_seconds < segment["end"] < 1.4 + speech_seconds
    assert np.isclose(body["duration"], 2 + speech_seconds, atol=0.01)


def test_the_service_token_guards_everything_but_the_probes(server: Server) -> None:
    for path in ("/v1/models", "/v1/audio/voices", "/metrics"):
        response = httpx.get(f"{server.url}{path}")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert httpx.get(f"{server.url}{path}", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(f"{server.url}/health/live").status_code == 200
    assert httpx.get(f"{server.url}/health/ready").status_code == 200
    wrong = OpenAI(base_url=f"{server.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(AuthenticationError) as refused:
        wrong.models.list()
    assert refused.value.status_code == 401


def test_engine_calls_are_counted_in_metrics(server: Server, openai_client: OpenAI) -> None:
    before = server.metric('voice_engine_calls_total{engine="piper",outcome="ok"}', absent=0.0)
    openai_client.audio.speech.create(
        model="tts-1", voice="en_US-joe-medium", input="Count me.", response_format="pcm"
    ).read()
    assert server.metric('voice_engine_calls_total{engine="piper",outcome="ok"}') == before + 1
    assert server.metric('voice_engine_audio_seconds_total{engine="piper"}') > 0


def test_each_engine_call_is_logged_with_request_id_engine_and_seconds(server: Server) -> None:
    audio = httpx.post(
        f"{server.url}/v1/audio/speech",
        json={"voice": "en_US-joe-medium", "input": "Log this call.", "response_format": "wav"},
        headers=server.headers | {"X-Request-ID": "log-check-1"},
        timeout=60,
    ).content
    httpx.post(
        f"{server.url}/v1/audio/transcriptions",
        files={"file": ("a.wav", audio)},
        headers=server.headers | {"X-Request-ID": "log-check-2"},
        timeout=60,
    )
    calls = [json.loads(line) for line in server.log_path.read_text().splitlines() if '"engine_call"' in line]
    by_request = {call["request_id"]: call for call in calls}
    for request_id, engine in (("log-check-1", "piper"), ("log-check-2", "whisper")):
        call = by_request[request_id]
        assert call["engine"] == engine
        assert call["outcome"] == "ok"
        assert call["audio_seconds"] > 0.5
        assert call["processing_seconds"] > 0
