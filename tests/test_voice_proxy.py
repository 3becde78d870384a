"""Voice through the main service: speech synthesized and transcribed by the real voice service, errors passed on."""

import io
import re
import wave

import httpx
import pytest

from conftest import ServiceProcess, StartService

SENTENCE = "The council meets this morning to discuss the harvest."


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z ]", "", text.lower()).split()


def test_speak_then_transcribe_round_trip_through_main(main: ServiceProcess) -> None:
    with httpx.Client(base_url=main.url, timeout=120) as client:
        speech = client.post("/api/voice/speak", json={"input": SENTENCE, "response_format": "wav"})
        assert speech.status_code == 200, speech.text
        assert speech.content[:4] == b"RIFF"

        transcript = client.post(
            "/api/voice/transcribe",
            files={"file": ("speech.wav", speech.content, "audio/wav")},
            headers={"X-Request-ID": "proxy-round-trip"},
        )

    assert transcript.status_code == 200, transcript.text
    assert transcript.headers["x-request-id"] == "proxy-round-trip"
    heard, said = words(transcript.json()["text"]), words(SENTENCE)
    assert len(set(heard) & set(said)) >= len(said) - 2, (heard, said)


def test_speak_through_main_streams_every_format_the_voice_service_encodes(main: ServiceProcess) -> None:
    magic = {"mp3": b"\xff", "opus": b"OggS"}  # an MPEG frame sync (no ID3 tag is written), an Ogg page
    for response_format, media_type in (("mp3", "audio/mpeg"), ("opus", "audio/ogg"), ("pcm", "audio/pcm")):
        speech = httpx.post(
            f"{main.url}/api/voice/speak", json={"input": "One format at a time.", "response_format": response_format},
            timeout=60,
        )  # fmt: skip
        assert speech.status_code == 200, speech.text
        assert speech.headers["content-type"].startswith(media_type)
        assert speech.content.startswith(magic.get(response_format, b"")), speech.content[:8]
        assert len(speech.content) > 4000


def test_undecodable_audio_gets_the_voice_services_4xx_with_the_same_request_id(
    main: ServiceProcess, voice: ServiceProcess
) -> None:
    response = httpx.post(
        f"{main.url}/api/voice/transcribe",
        files={"file": ("noise.wav", b"definitely not audio" * 50, "audio/wav")},
        headers={"X-Request-ID": "proxy-bad-audio"},
        timeout=60,
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["request_id"] == "proxy-bad-audio"
    assert any(line.get("request_id") == "proxy-bad-audio" for line in voice.log_lines())


def _wav(seconds: float, rate: int = 16_000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * int(seconds * rate))
    return buffer.getvalue()


def _huge_declared_size() -> bytes:
    data = bytearray(_wav(0.5))
    data[4:8] = (0xFFFFFFF0).to_bytes(4, "little")  # RIFF size: ~4 GiB
    data[40:44] = (0xFFFFFF00).to_bytes(4, "little")  # data chunk size: ~4 GiB
    return bytes(data)


# What a careless or hostile client uploads, through main's proxy: each a 4xx in main's error shape with the same
# request ID, never a 5xx (the voice service's own corpus runs in legacy-voice-service/tests/api/test_bad_input.py).
PROXY_UPLOADS = [
    ("empty", b"", "audio/wav"),
    ("random-bytes", bytes(range(256)) * 80, "audio/wav"),
    ("truncated-header", _wav(1.0)[:40], "audio/wav"),
    ("text-labelled-as-audio", b"hello, this is plainly text\n" * 40, "audio/mpeg"),
    ("wav-labelled-as-json", _wav(0.0), "application/json"),
]


@pytest.mark.parametrize(("data", "content_type"), [c[1:] for c in PROXY_UPLOADS], ids=[c[0] for c in PROXY_UPLOADS])
def test_malformed_audio_through_main_is_a_4xx_with_the_request_id(
    main: ServiceProcess, data: bytes, content_type: str
) -> None:
    response = httpx.post(
        f"{main.url}/api/voice/transcribe",
        files={"file": ("upload", data, content_type)},
        headers={"X-Request-ID": "proxy-corpus"},
        timeout=60,
    )
    assert 400 <= response.status_code < 500, response.text
    error = response.json()["error"]
    assert error["request_id"] == "proxy-corpus"
    assert error["code"]
    assert error["message"]
    assert httpx.get(f"{main.url}/health/live", timeout=10).status_code == 200


# Each a name a file-backed engine could be tricked into opening. The voice service refuses all of them the same
# way, by their syntax (400 `invalid_request`), before it looks the name up among its engine's voices: a name passed
# through unchecked would be an unknown voice instead (404 `voice_not_found`), or worse, a file opened.
PATH_LIKE_VOICE_NAMES = ["../../etc/passwd", "/etc/passwd", "en_US-joe-medium/../../x", "C:\\Windows\\x", "en_US..x"]


@pytest.mark.parametrize("voice_name", PATH_LIKE_VOICE_NAMES)
def test_path_like_voice_names_through_main_are_refused_by_their_syntax(
    main: ServiceProcess, voice: ServiceProcess, voice_name: str
) -> None:
    request_id = f"path-like-voice-{PATH_LIKE_VOICE_NAMES.index(voice_name)}"
    speak = {"input": "Hello.", "voice": voice_name}
    response = httpx.post(f"{main.url}/api/voice/speak", json=speak, headers={"X-Request-ID": request_id}, timeout=60)

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["message"].startswith(f"Invalid voice name {voice_name!r}")  # the syntax check, not the lookup
    assert error["request_id"] == request_id == response.headers["x-request-id"]
    # Nothing past the check ran: the voice service refused the request and no engine call was made for it.
    events = [line for line in voice.log_lines() if line.get("request_id") == request_id]
    assert [(e["event"], e.get("code")) for e in events if e["event"] == "request_failed"] == [
        ("request_failed", "invalid_request")
    ]
    assert not [e for e in events if e["event"] == "engine_call"], events


def test_a_wav_declaring_4_gib_is_read_for_what_it_holds(main: ServiceProcess) -> None:
    # Decoders read what is there (like ffmpeg on a truncated file), not what the header promises.
    response = httpx.post(
        f"{main.url}/api/voice/transcribe",
        files={"file": ("huge.wav", _huge_declared_size(), "audio/wav")},
        data={"response_format": "verbose_json"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.json()["duration"] == pytest.approx(0.5, abs=0.05)


def test_the_service_token_is_sent_when_configured_and_required_by_voice(
    start_voice: StartService, start_main: StartService
) -> None:
    voice = start_voice(VOICE_AUTH__SERVICE_TOKEN="shared-secret")
    with_token = start_main(voice, COUNCIL_VOICE__SERVICE_TOKEN="shared-secret")
    without_token = start_main(voice)
    wrong_token = start_main(voice, COUNCIL_VOICE__SERVICE_TOKEN="not-the-secret")

    speak = {"input": "Token check.", "response_format": "wav"}
    allowed = httpx.post(f"{with_token.url}/api/voice/speak", json=speak, timeout=60)
    refused = httpx.post(f"{without_token.url}/api/voice/speak", json=speak, timeout=60)
    wrong = httpx.post(f"{wrong_token.url}/api/voice/speak", json=speak, timeout=60)

    assert allowed.status_code == 200
    for answer in (refused, wrong):
        assert answer.status_code == 401  # the voice service's own answer, passed through
        assert answer.json()["error"]["code"] == "unauthorized"
