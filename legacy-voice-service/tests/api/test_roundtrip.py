"""Speech and transcription through the official `openai` SDK against the running service, and back again."""

import io
import re

import av
from openai import OpenAI

from tests.api.wer import normalize, word_error_rate
from tests.conftest import Server

VOICE = "en_US-joe-medium"
SENTENCES = [
    "The council meets at noon to discuss the budget.",
    "Please send the report to the finance team before Friday.",
    "Our analyst thinks the new plan is too expensive.",
    "The weather today is cold and windy with some rain.",
    "We will vote on the proposal after a short break.",
]
WER_BOUND = 0.15  # Whisper tiny.en on Piper's joe voice; bench/voice measured 0.04 on 20 generated sentences


def speak(client: OpenAI, text: str, response_format: str = "wav") -> bytes:
    response = client.audio.speech.create(
        model="tts-1",
        voice=VOICE,
        input=text,
        response_format=response_format,  # type: ignore[arg-type]
    )
    return response.content


def test_round_trip_through_tts_and_stt_stays_under_the_wer_bound(openai_client: OpenAI) -> None:
    hypotheses = []
    for sentence in SENTENCES:
        audio = speak(openai_client, sentence)
        result = openai_client.audio.transcriptions.create(model="whisper-1", file=("speech.wav", audio))
        hypotheses.append(result.text)
    assert word_error_rate(SENTENCES, hypotheses) <= WER_BOUND, hypotheses


def test_mp3_and_pcm_agree_with_wav(openai_client: OpenAI) -> None:
    text = "Testing three formats."
    wav = speak(openai_client, text, "wav")
    pcm = speak(openai_client, text, "pcm")
    mp3 = speak(openai_client, text, "mp3")
    assert wav[:4] == b"RIFF"
    assert wav[44:] == pcm  # pcm is wav's data without the header: s16le mono at 24 kHz
    with av.open(io.BytesIO(mp3)) as container:
        assert (container.format.name, container.streams.audio[0].sample_rate) == ("mp3", 24_000)
    transcript = openai_client.audio.transcriptions.create(model="whisper-1", file=("speech.mp3", mp3))
    assert normalize(transcript.text) == normalize(text)


def test_same_text_gives_the_same_bytes_with_noise_off(openai_client: OpenAI) -> None:
    assert speak(openai_client, "Determinism matters.", "pcm") == speak(openai_client, "Determinism matters.", "pcm")


def test_verbose_json_has_segments_and_word_timestamps(openai_client: OpenAI) -> None:
    audio = speak(openai_client, SENTENCES[0])
    result = openai_client.audio.transcriptions.create(
        model="whisper-1",
        file=("speech.wav", audio),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    assert result.language == "en"
    assert result.segments
    assert result.words is not None
    assert [normalize(word.word)[0] for word in result.words] == normalize(SENTENCES[0])
    starts = [word.start for word in result.words]
    assert starts == sorted(starts)
    assert 0 < result.words[-1].end <= result.duration


def test_text_srt_and_vtt_formats(openai_client: OpenAI) -> None:
    audio = speak(openai_client, SENTENCES[1])
    text = openai_client.audio.transcriptions.create(model="whisper-1", file=("a.wav", audio), response_format="text")
    srt = openai_client.audio.transcriptions.create(model="whisper-1", file=("a.wav", audio), response_format="srt")
    vtt = openai_client.audio.transcriptions.create(model="whisper-1", file=("a.wav", audio), response_format="vtt")
    assert normalize(str(text)) == normalize(SENTENCES[1])
    assert re.match(r"1\n00:00:00,\d{3} --> 00:00:0\d,\d{3}\n\S", str(srt))
    assert re.match(r"WEBVTT\n\n00:00:00\.\d{3} --> 00:00:0\d\.\d{3}\n\S", str(vtt))


def test_silence_gives_no_invented_text(openai_client: OpenAI, server: Server) -> None:
    silence = (
        b"RIFF"
        + (36 + 32_000).to_bytes(4, "little")
        + b"WAVEfmt "
        + bytes.fromhex("1000000001000100803e0000007d00000200100064617461")
        + (32_000).to_bytes(4, "little")
        + b"\0" * 32_000
    )
    result = openai_client.audio.transcriptions.create(model="whisper-1", file=("silence.wav", silence))
    assert result.text == ""
