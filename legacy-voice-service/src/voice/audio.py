"""Audio in and out: decode any container/codec with PyAV to mono float32, encode streamed wav, pcm, mp3 or opus."""

import io
import struct
from typing import Literal, Protocol

import av
import av.error
import numpy as np
import numpy.typing as npt

from voice.errors import AudioTooLong, InvalidAudio

Samples = npt.NDArray[np.float32]
OutputFormat = Literal["wav", "pcm", "mp3", "opus"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("wav", "pcm", "mp3", "opus")
# OpenAI's `pcm` is raw s16le mono at 24 kHz; the others use the same rate (one libopus accepts as it is).
OUTPUT_RATE = 24_000
# `opus` is Opus in Ogg, as OpenAI defines it: a file, whose media type is audio/ogg (RFC 7845); audio/opus names
# bare RTP payloads (RFC 7587), which no player would open.
MEDIA_TYPES: dict[OutputFormat, str] = {
    "wav": "audio/wav",
    "pcm": "audio/pcm",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
}
# An Ogg page is closed once it holds this much audio (FFmpeg's default is 1 s), and FFmpeg keeps the newest
# closed page back to flag the end of stream on it: so at most ~130 ms of a sentence's end wait for the next
# sentence, for 28 bytes of page header per 60 ms (a page per 20 ms Opus frame would cost a third of 32 kbit/s).
OGG_PAGE_MICROSECONDS = 60_000
# Sample rates an upload may declare: below 1 kHz is not speech audio, above 384 kHz no real device records.
MIN_INPUT_RATE = 1_000
MAX_INPUT_RATE = 384_000


def decode(data: bytes, rate: int, max_seconds: float) -> Samples:
    """Decode an upload to mono float32 at `rate`; a clear `InvalidAudio` when it is not audio we can read."""
    if not data:
        raise InvalidAudio("The uploaded file is empty.")
    limit = int(max_seconds * rate)
    too_long = AudioTooLong(
        f"The audio is longer than the limit of {max_seconds:g} s (VOICE_LIMITS__MAX_AUDIO_SECONDS)."
    )
    pieces: list[Samples] = []
    total = 0
    seconds = 0.0  # of decoded input, counted before resampling
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise InvalidAudio("The uploaded file has no audio stream.")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            stream = container.streams.audio[0]
            for frame in container.decode(stream):
                # Checked before resampling: a header that declares 1 Hz would make one packet 16000x larger.
                _check_input_rate(frame.sample_rate)
                seconds += frame.samples / frame.sample_rate
                if seconds > max_seconds:
                    raise too_long
                for out in resampler.resample(frame):
                    pieces.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
                    total += out.samples
                if total > limit:
                    raise too_long
            for out in resampler.resample(None):
                pieces.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
    except (av.error.FFmpegError, ValueError, UnicodeDecodeError) as error:
        raise InvalidAudio(f"The uploaded file could not be decoded as audio: {_reason(error)}.") from error
    samples = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
    if samples.size == 0:
        raise InvalidAudio("The uploaded file contains no audio samples (0 seconds).")
    if samples.size > limit:
        raise too_long
    return samples


def _check_input_rate(sample_rate: int) -> None:
    if not MIN_INPUT_RATE <= sample_rate <= MAX_INPUT_RATE:
        raise InvalidAudio(
            f"The audio declares a sample rate of {sample_rate} Hz; accepted are {MIN_INPUT_RATE} to "
            f"{MAX_INPUT_RATE} Hz."
        )


def _reason(error: Exception) -> str:
    if isinstance(error, av.error.FFmpegError):
        return str(error.strerror or error).rstrip(".")
    return str(error).rstrip(".") or type(error).__name__


def decode_pcm16(data: bytes) -> Samples:
    """Raw s16le mono frames (the realtime socket's input) as float32."""
    usable = len(data) - len(data) % 2
    return np.frombuffer(data[:usable], dtype="<i2").astype(np.float32) / 32768.0


class StreamResampler:
    """Float32 mono chunks from `source_rate` to `rate`, chunk by chunk, with FFmpeg's resampler (as uploads and the
    encoder use): its filter state carries across chunks, so their seams are inaudible. A few samples stay inside
    the filter until more audio pushes them out (well under a millisecond: a pause's silence always does)."""

    def __init__(self, source_rate: int, rate: int) -> None:
        self.source_rate, self.rate = source_rate, rate
        self._resampler = None if source_rate == rate else av.AudioResampler(format="flt", layout="mono", rate=rate)

    def push(self, samples: Samples) -> Samples:
        if self._resampler is None or samples.size == 0:
            return samples
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = self.source_rate
        pieces = [out.to_ndarray().reshape(-1) for out in self._resampler.resample(frame)]
        return np.concatenate(pieces).astype(np.float32, copy=False) if pieces else np.zeros(0, dtype=np.float32)


def wav_header(rate: int, channels: int = 1, bits: int = 16) -> bytes:
    """A WAV header for a stream of unknown length (sizes 0xFFFFFFFF, as OpenAI's streamed wav does)."""
    block = channels * bits // 8
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        0xFFFFFFFF,
        b"WAVE",
        b"fmt ",
        16,
        1,
        channels,
        rate,
        rate * block,
        block,
        bits,
        b"data",
        0xFFFFFFFF,
    )


class _Packer(Protocol):
    """Encodes s16 mono frames at OUTPUT_RATE to bytes; `None` flushes what the codec still holds."""

    def pack(self, frame: av.AudioFrame | None) -> bytes: ...


class _RawPcm:
    def pack(self, frame: av.AudioFrame | None) -> bytes:
        return b"" if frame is None else bytes(frame.to_ndarray().astype("<i2").tobytes())


class _Mp3:
    def __init__(self) -> None:
        codec = av.CodecContext.create("libmp3lame", "w")
        assert isinstance(codec, av.AudioCodecContext)
        codec.sample_rate = OUTPUT_RATE
        codec.layout = "mono"
        codec.format = "s16p"
        codec.bit_rate = 64_000
        codec.open()
        self._codec = codec

    def pack(self, frame: av.AudioFrame | None) -> bytes:
        return b"".join(bytes(packet) for packet in self._codec.encode(frame))


class _Drain:
    """A write-only sink for FFmpeg's muxer (no seek, so nothing written is ever rewritten) that is emptied."""

    def __init__(self) -> None:
        self._written = bytearray()

    def write(self, data: bytes) -> int:
        self._written += data
        return len(data)

    def take(self) -> bytes:
        taken = bytes(self._written)
        self._written.clear()
        return taken


class _OggOpus:
    """Opus in Ogg: FFmpeg's muxer writes pre-skip, granule positions and the end trim, so it decodes exactly."""

    def __init__(self) -> None:
        self._sink = _Drain()
        # flush_packets: each page leaves the muxer when it is complete, not when a 32 KiB I/O buffer fills.
        options = {"page_duration": str(OGG_PAGE_MICROSECONDS), "flush_packets": "1"}
        self._container = av.open(self._sink, "w", format="ogg", container_options=options)
        stream = self._container.add_stream("libopus", rate=OUTPUT_RATE)
        stream.layout = "mono"
        stream.format = "s16"
        stream.bit_rate = 32_000
        self._stream = stream
        # Opens libopus and writes the Opus headers now, so a codec that cannot open fails while it is built.
        self._container.start_encoding()

    def pack(self, frame: av.AudioFrame | None) -> bytes:
        self._container.mux(self._stream.encode(frame))
        if frame is None:
            self._container.close()  # the last page, flagged end-of-stream
        return self._sink.take()


def _packer_for(output: OutputFormat) -> _Packer:
    if output == "mp3":
        return _Mp3()
    if output == "opus":
        return _OggOpus()
    return _RawPcm()  # wav is pcm after its header


class StreamEncoder:
    """Turns float32 chunks at the engine's rate into bytes of one output format, chunk by chunk."""

    def __init__(self, output: OutputFormat, source_rate: int) -> None:
        self.output = output
        self._source_rate = source_rate
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=OUTPUT_RATE)
        self._packer = _packer_for(output)
        self._pts = 0

    def start(self) -> bytes:
        return wav_header(OUTPUT_RATE) if self.output == "wav" else b""

    def encode(self, samples: Samples) -> bytes:
        pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = self._source_rate
        return b"".join(self._emit(out) for out in self._resampler.resample(frame))

    def finish(self) -> bytes:
        tail = b"".join(self._emit(out) for out in self._resampler.resample(None))
        return tail + self._packer.pack(None)

    def _emit(self, frame: av.AudioFrame) -> bytes:
        frame.pts = self._pts
        self._pts += frame.samples
        return self._packer.pack(frame)


class SampleBuffer:
    """Audio appended in place, its capacity doubling as it grows: amortized O(1) per sample, where concatenating
    onto the whole buffer at every append copies all of it each time (quadratic in the utterance's length).

    `samples` is a view. A view handed out stays valid: appends write only past its end, dropping moves the start,
    and growing copies into a new array."""

    def __init__(self) -> None:
        self._data: Samples = np.zeros(0, dtype=np.float32)
        self._start = 0
        self._end = 0

    @property
    def samples(self) -> Samples:
        return self._data[self._start : self._end]

    @property
    def size(self) -> int:
        return self._end - self._start

    @property
    def capacity(self) -> int:
        return int(self._data.size)

    def extend(self, audio: Samples) -> None:
        if self._end + audio.size > self._data.size:
            kept = self.samples
            grown: Samples = np.empty(max(2 * (kept.size + audio.size), 16_000), dtype=np.float32)
            grown[: kept.size] = kept
            self._data, self._start, self._end = grown, 0, kept.size
        self._data[self._end : self._end + audio.size] = audio
        self._end += audio.size

    def drop_front(self, count: int) -> None:
        """Forget the first `count` samples (their space is reclaimed when the buffer next grows)."""
        self._start = min(self._start + max(count, 0), self._end)
