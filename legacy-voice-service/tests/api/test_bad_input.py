"""The bad-input corpus against the running service: every case is a clear 4xx in the one error shape, the
process keeps serving, and no temporary file is left behind."""

import io
import os
import wave
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import AppClient, Server, engine_free_settings


def wav(seconds: float, rate: int = 16_000, width: int = 2) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(b"\0" * int(seconds * rate) * width)
    return buffer.getvalue()


def odd_width_wav() -> bytes:
    data = bytearray(wav(1.0))
    data[34:36] = (0).to_bytes(2, "little")  # bits per sample = 0
    return bytes(data)


UPLOADS = [
    ("empty", b"", 400, "invalid_audio", "empty"),
    ("random-bytes", np.random.default_rng(3).bytes(20_000), 400, "invalid_audio", "could not be decoded"),
    ("truncated-wav", wav(1.0)[:40], 400, "invalid_audio", "could not be decoded"),
    ("zero-seconds", wav(0.0), 400, "invalid_audio", "no audio samples"),
    ("sample-width-0", odd_width_wav(), 400, "invalid_audio", "could not be decoded"),
    ("too-long", wav(31.0), 413, "audio_too_long", "VOICE_LIMITS__MAX_AUDIO_SECONDS"),
    ("1-hz-wav", wav(20.0, rate=1), 400, "invalid_audio", "sample rate of 1 Hz"),
    ("400-khz-wav", wav(0.5, rate=400_000), 400, "invalid_audio", "sample rate of 400000 Hz"),
    ("spooled-garbage", np.random.default_rng(4).bytes(1_500_000), 400, "invalid_audio", "could not be decoded"),
    ("over-body-limit", b"\0" * (3 * 1024 * 1024 + 1), 413, "payload_too_large", "VOICE_LIMITS__MAX_BODY_BYTES"),
]


def assert_error(response: httpx.Response, status: int, code: str, says: str) -> None:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"]["code"] == code
    assert says in body["error"]["message"]
    assert body["error"]["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize(
    ("data", "status", "code", "says"), [case[1:] for case in UPLOADS], ids=[c[0] for c in UPLOADS]
)
@pytest.mark.parametrize("path", ["/v1/audio/transcriptions", "/v1/audio/vad"])
def test_bad_uploads_are_clear_4xx(server: Server, path: str, data: bytes, status: int, code: str, says: str) -> None:
    response = httpx.post(
        f"{server.url}{path}", files={"file": ("upload.wav", data)}, headers=server.headers, timeout=60
    )
    assert_error(response, status, code, says)


SPEECH = {"model": "tts-1", "voice": "en_US-joe-medium", "input": "Hello.", "response_format": "wav"}
SPEECH_CASES = [
    ("huge-text", {"input": "word " * 500}, 400, "text_too_long", "VOICE_LIMITS__MAX_TEXT_CHARS"),
    ("blank-text", {"input": "   "}, 400, "invalid_request", "empty"),
    ("unknown-voice", {"voice": "alloy"}, 404, "voice_not_found", "en_US-joe-medium"),
    ("path-voice", {"voice": "../../etc/passwd"}, 400, "invalid_request", "Invalid voice name"),
    ("slash-voice", {"voice": "voices/en_US-joe-medium"}, 400, "invalid_request", "Invalid voice name"),
    ("unknown-model", {"model": "kokoro"}, 404, "model_not_found", "GET /v1/models"),
    ("flac", {"response_format": "flac"}, 400, "unsupported_format", "wav, pcm, mp3, opus"),
    ("speed", {"speed": 9}, 422, "invalid_request", "speed"),
]


@pytest.mark.parametrize(
    ("change", "status", "code", "says"), [c[1:] for c in SPEECH_CASES], ids=[c[0] for c in SPEECH_CASES]
)
def test_bad_speech_requests_are_clear_4xx(
    server: Server, change: dict[str, Any], status: int, code: str, says: str
) -> None:
    response = httpx.post(f"{server.url}/v1/audio/speech", json=SPEECH | change, headers=server.headers, timeout=60)
    assert_error(response, status, code, says)


def test_bad_transcription_options_are_clear_4xx(server: Server) -> None:
    files = {"file": ("a.wav", wav(1.0))}
    cases = [
        ({"model": "large-v3"}, 404, "model_not_found", "whisper-tiny.en"),
        ({"language": "de"}, 400, "invalid_request", "only speaks en"),
        ({"language": "xx"}, 400, "invalid_request", "not a language Whisper knows"),
        ({"language": "english"}, 400, "invalid_request", "ISO-639-1"),
        ({"timestamp_granularities[]": "word"}, 400, "invalid_request", "verbose_json"),
        ({"response_format": "xml"}, 422, "invalid_request", "response_format"),
    ]
    for data, status, code, says in cases:
        response = httpx.post(f"{server.url}/v1/audio/transcriptions", data=data, files=files, headers=server.headers)
        assert_error(response, status, code, says)
    missing = httpx.post(f"{server.url}/v1/audio/transcriptions", data={"model": "whisper-1"}, headers=server.headers)
    assert_error(missing, 422, "invalid_request", "file")


def open_temp_files(server: Server) -> set[str]:
    """Files under the server's TMPDIR that its process holds open (Starlette's spool files are unnamed ones)."""
    fds = Path(f"/proc/{server.process.pid}/fd")
    links = (os.readlink(fd) for fd in fds.iterdir() if fd.is_symlink())
    return {link for link in links if link.startswith(str(server.tmp_dir))}


def test_after_the_corpus_the_process_serves_and_left_no_temp_files(server: Server) -> None:
    held_before = open_temp_files(server)
    for path in ("/v1/audio/transcriptions", "/v1/audio/vad"):
        httpx.post(
            f"{server.url}{path}",
            files={"file": ("x", np.random.default_rng(5).bytes(1_500_000))},
            headers=server.headers,
        )
    assert server.process.poll() is None
    assert httpx.get(f"{server.url}/health/ready").status_code == 200
    assert set(server.tmp_dir.iterdir()) == server.startup_tmp_files
    # The 1.5 MB uploads were spooled to disk; the spool files were closed (their space freed) with the requests.
    assert open_temp_files(server) <= held_before


@pytest.mark.parametrize(("path", "engine"), [("/v1/audio/transcriptions", "stt"), ("/v1/audio/vad", "vad")])
def test_an_upload_waits_for_the_engine_before_it_is_decoded(app_client: AppClient, path: str, engine: str) -> None:
    # Decoding is CPU work for the engine: a full queue refuses the upload (429) before any of it is decoded, so a
    # flood of uploads cannot run as many FFmpeg decodes at once. Random bytes would be a 400 once decoded.
    client = app_client(engine_free_settings(**{engine: {"enabled": True}}, limits={"max_queued_jobs": 0}))
    engines = client.app_state["engines"]  # type: ignore[index]
    queue = (engines.transcriber("whisper-1") if engine == "stt" else engines.vad).queue
    queue.running += 1  # as if another job held the engine's only slot
    try:
        response = client.post(path, files={"file": ("noise.wav", os.urandom(4096), "audio/wav")})
    finally:
        queue.running -= 1
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert client.post(path, files={"file": ("noise.wav", os.urandom(4096), "audio/wav")}).status_code == 400
