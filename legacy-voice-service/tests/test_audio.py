"""Decoding uploads with PyAV (with reasons for what cannot be decoded) and encoding streamed output."""

import io
import wave

import av
import numpy as np
import pytest

from voice.audio import OUTPUT_RATE, OutputFormat, SampleBuffer, StreamEncoder, StreamResampler, decode
from voice.errors import AudioTooLong, InvalidAudio

RATE = 16_000


def tone(seconds: float, rate: int = 22_050) -> np.ndarray:
    t = np.arange(int(seconds * rate), dtype=np.float32) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def wav_bytes(samples: np.ndarray, rate: int = RATE, width: int = 2) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes((samples * 32767).astype("<i2").tobytes() if width == 2 else samples.tobytes())
    return buffer.getvalue()


@pytest.mark.parametrize("output", ["wav", "mp3", "opus"])
def test_streamed_output_decodes_back_to_the_same_length_and_level(output: OutputFormat) -> None:
    audio = tone(1.0)
    encoder = StreamEncoder(output, 22_050)
    data = encoder.start() + encoder.encode(audio[:10_000]) + encoder.encode(audio[10_000:]) + encoder.finish()
    decoded = decode(data, RATE, max_seconds=10)
    assert abs(decoded.size / RATE - 1.0) < 0.1  # mp3 adds an encoder delay of a few ms
    assert 0.25 < float(np.abs(decoded).max()) < 0.35


def test_opus_is_ogg_opus_trimmed_to_the_exact_duration() -> None:
    encoder = StreamEncoder("opus", 22_050)
    data = encoder.start() + encoder.encode(tone(1.0)) + encoder.finish()
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        assert (container.format.name, stream.codec_context.name) == ("ogg", "opus")
        samples = sum(frame.samples for frame in container.decode(stream))
    # Ogg Opus always decodes at 48 kHz; pre-skip and the end trim make it exactly what went in.
    assert samples == 48_000


def test_opus_leaves_in_whole_ogg_pages_as_each_chunk_is_encoded() -> None:
    encoder = StreamEncoder("opus", 22_050)
    audio = tone(3.0)
    pieces = [encoder.encode(audio[start : start + 22_050]) for start in range(0, audio.size, 22_050)]
    pieces.append(encoder.finish())
    # Every chunk of a second gives its own pages at once: nothing waits in an I/O buffer until the end.
    assert all(piece.startswith(b"OggS") for piece in pieces[:3])
    assert min(len(piece) for piece in pieces[:3]) > 2_000
    # What left after the first chunk plays that second but for its end, held back with the muxer's last page.
    first = decode(pieces[0], RATE, max_seconds=10)
    assert 0.85 < first.size / RATE < 1.0


def test_pcm_is_raw_s16le_at_24_khz() -> None:
    encoder = StreamEncoder("pcm", 22_050)
    data = encoder.start() + encoder.encode(tone(1.0)) + encoder.finish()
    assert encoder.start() == b""
    assert len(data) == 2 * OUTPUT_RATE


def test_stereo_44k_wav_is_downmixed_and_resampled() -> None:
    stereo = np.repeat(tone(0.5, 44_100)[:, None], 2, axis=1)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(44_100)
        out.writeframes((stereo * 32767).astype("<i2").tobytes())
    decoded = decode(buffer.getvalue(), RATE, max_seconds=10)
    assert decoded.size == pytest.approx(RATE * 0.5, abs=64)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (np.random.default_rng(7).bytes(4000), "could not be decoded"),
        (wav_bytes(tone(1.0, RATE))[:30], "could not be decoded"),
        (wav_bytes(np.zeros(0, dtype=np.float32)), "no audio samples"),
        (b"this is a text file, not audio\n" * 20, "could not be decoded"),
    ],
    ids=["empty", "random-bytes", "truncated-wav", "zero-seconds", "text"],
)
def test_undecodable_input_says_why(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidAudio, match=reason):
        decode(data, RATE, max_seconds=10)


def test_audio_over_the_duration_limit_is_refused_naming_the_setting() -> None:
    with pytest.raises(AudioTooLong, match="VOICE_LIMITS__MAX_AUDIO_SECONDS"):
        decode(wav_bytes(tone(2.0, RATE)), RATE, max_seconds=1.0)


@pytest.mark.parametrize("declared_rate", [1, 999, 384_001, 1_000_000])
def test_a_wav_declaring_an_absurd_sample_rate_is_refused_before_resampling(declared_rate: int) -> None:
    # 600 samples at 1 Hz claim ten minutes: resampled to 16 kHz that is 9.6 M samples from a 1 KB upload.
    data = wav_bytes(tone(0.1, RATE)[:600], rate=declared_rate)
    with pytest.raises(InvalidAudio, match=f"sample rate of {declared_rate} Hz; accepted are 1000 to 384000 Hz"):
        decode(data, RATE, max_seconds=600)


@pytest.mark.parametrize("rate", [1_000, 384_000])
def test_the_edges_of_the_accepted_sample_rates_decode(rate: int) -> None:
    decoded = decode(wav_bytes(tone(0.5, rate), rate=rate), RATE, max_seconds=10)
    assert decoded.size == pytest.approx(RATE * 0.5, abs=64)


def test_the_duration_limit_counts_the_input_before_resampling() -> None:
    # 2 s at 1 kHz is 2 000 input samples: refused on its own duration, whatever it would become at 16 kHz.
    with pytest.raises(AudioTooLong, match="VOICE_LIMITS__MAX_AUDIO_SECONDS"):
        decode(wav_bytes(tone(2.0, 1_000), rate=1_000), RATE, max_seconds=1.0)


def encoded(container_format: str, codec: str, rate: int, seconds: float = 1.0) -> bytes:
    """One second of tone written by FFmpeg (through PyAV) in a real container and codec."""

    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout = "mono"
        samples = (tone(seconds, rate) * 32767).astype("<i2").reshape(1, -1)
        for start in range(0, samples.shape[1], 960):
            frame = av.AudioFrame.from_ndarray(samples[:, start : start + 960], format="s16", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("container_format", "codec", "rate"),
    [("flac", "flac", 44_100), ("ogg", "libopus", 48_000), ("webm", "libopus", 48_000), ("mp3", "libmp3lame", 22_050)],
)
def test_common_containers_and_codecs_decode(container_format: str, codec: str, rate: int) -> None:
    decoded = decode(encoded(container_format, codec, rate), RATE, max_seconds=10)
    assert decoded.size / RATE == pytest.approx(1.0, abs=0.1)
    assert 0.2 < float(np.abs(decoded).max()) < 0.4


def test_a_sample_buffer_grows_geometrically_and_never_moves_audio_under_a_view() -> None:
    buffer = SampleBuffer()
    frame = np.arange(320, dtype=np.float32)
    capacities = set()
    for _ in range(3_000):  # 60 s of 20 ms frames at 16 kHz
        buffer.extend(frame)
        capacities.add(buffer.capacity)
    view = buffer.samples[:640]
    before = view.copy()
    buffer.drop_front(320)
    for _ in range(3_000):
        buffer.extend(-frame)  # writes past the view, then into a grown array

    assert buffer.size == 5_999 * 320
    assert len(capacities) <= 8  # a handful of reallocations, not one copy of everything per append
    assert np.array_equal(view, before)
    assert np.array_equal(buffer.samples[:320], frame)  # the second frame is now the first
    assert np.array_equal(buffer.samples[-320:], -frame)
    buffer.drop_front(10**9)
    assert buffer.size == 0


@pytest.mark.parametrize(("rate", "chunk"), [(48_000, 1_000), (8_000, 333), (24_000, 2_400)])
def test_a_live_stream_resampled_chunk_by_chunk_keeps_its_length_and_its_pitch(rate: int, chunk: int) -> None:
    # The realtime socket's audio arrives in chunks of any size. Resampling each on its own (the linear resampler this
    # replaced) rounded every chunk's length (48 kHz in 1000-sample chunks: +0.2 %, a phase jump at every seam);
    # one resampler whose filter state carries over keeps the stream's length and its tone.
    signal = tone(3.0, rate)
    resampler = StreamResampler(rate, RATE)
    out = np.concatenate([resampler.push(signal[at : at + chunk]) for at in range(0, signal.size, chunk)])
    assert abs(out.size - 3 * RATE) <= 32  # what stays inside the filter until more audio comes
    spectrum = np.abs(np.fft.rfft(out[RATE // 2 : RATE // 2 + RATE]))  # one second: bins are 1 Hz apart
    assert int(np.argmax(spectrum)) == 440
    assert spectrum[440] / spectrum.sum() > 0.2  # a pure tone: no spread from seams


def test_at_the_working_rate_the_stream_passes_through_untouched() -> None:
    samples = tone(0.1, RATE)
    assert StreamResampler(RATE, RATE).push(samples) is samples
