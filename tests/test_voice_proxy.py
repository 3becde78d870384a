"""Voice through the main service: speech synthesized and transcribed by the real voice service, errors passed on."""

import re

import httpx

from conftest import ServiceProcess

SENTENCE = "The council meets at noon to discuss the harvest."


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
