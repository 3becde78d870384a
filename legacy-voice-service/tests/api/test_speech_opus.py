"""`response_format=opus` against the running service: Ogg Opus as OpenAI sends it, heard by Whisper, streamed."""

import io

import av
from openai import OpenAI

from tests.api.test_roundtrip import SENTENCES, WER_BOUND, speak
from tests.api.test_streaming import IN_PROGRESS, streamed_speech
from tests.api.wer import word_error_rate
from tests.conftest import Server


def test_opus_is_ogg_opus_as_long_as_the_same_speech_in_wav(openai_client: OpenAI) -> None:
    text = SENTENCES[2]
    wav = speak(openai_client, text, "wav")
    opus = speak(openai_client, text, "opus")
    wav_seconds = (len(wav) - 44) / 2 / 24_000
    with av.open(io.BytesIO(opus)) as container:
        stream = container.streams.audio[0]
        assert (container.format.name, stream.codec_context.name) == ("ogg", "opus")
        samples = sum(frame.samples for frame in container.decode(stream))
        rate = stream.sample_rate
    # Ogg Opus decodes at 48 kHz; pre-skip and the end trim make it exactly as long as the wav.
    assert samples / rate == wav_seconds
    assert len(opus) < len(wav) / 5


def test_whisper_hears_the_opus_speech_under_the_wer_bound(openai_client: OpenAI) -> None:
    hypotheses = []
    for sentence in SENTENCES:
        audio = speak(openai_client, sentence, "opus")
        result = openai_client.audio.transcriptions.create(model="whisper-1", file=("speech.ogg", audio))
        hypotheses.append(result.text)
    assert word_error_rate(SENTENCES, hypotheses) <= WER_BOUND, hypotheses


def test_first_opus_pages_arrive_while_synthesis_is_still_running(server: Server) -> None:
    with streamed_speech(server, "opus", "audio/ogg") as chunks:
        first = next(chunks)
        # The server says, at this moment, that this synthesis has not finished.
        assert server.metric(IN_PROGRESS) == 1
        rest = b"".join(chunks)
    assert first.startswith(b"OggS")
    assert 0 < len(first) < len(rest) / 10
    with av.open(io.BytesIO(first)) as container:
        first_seconds = sum(frame.samples for frame in container.decode(audio=0)) / 48_000
    assert first_seconds > 1.0  # the first sentence, playable on its own
    assert server.metric(IN_PROGRESS) == 0
