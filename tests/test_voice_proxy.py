"""Voice through the main service: speech synthesized and transcribed by the real voice service, errors passed on."""

import re

import httpx

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


def test_the_service_token_is_sent_when_configured_and_required_by_voice(
    start_voice: StartService, start_main: StartService
) -> None:
    voice = start_voice(VOICE_AUTH__SERVICE_TOKEN="shared-secret")
    with_token = start_main(voice, COUNCIL_VOICE__SERVICE_TOKEN="shared-secret")
    without_token = start_main(voice)

    speak = {"input": "Token check.", "response_format": "wav"}
    allowed = httpx.post(f"{with_token.url}/api/voice/speak", json=speak, timeout=60)
    refused = httpx.post(f"{without_token.url}/api/voice/speak", json=speak, timeout=60)

    assert allowed.status_code == 200
    assert refused.status_code == 401  # the voice service's own answer, passed through
    assert refused.json()["error"]["code"] == "unauthorized"
