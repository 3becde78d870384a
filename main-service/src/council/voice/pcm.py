"""PCM helpers for the real-time voice socket: s16le mono frames, durations, and a WAV wrapper for uploads."""

import io
import wave

SAMPLE_WIDTH = 2  # s16le


def duration_s(pcm: bytes | bytearray, sample_rate: int) -> float:
    return len(pcm) / (SAMPLE_WIDTH * sample_rate)


def byte_offset(seconds: float, sample_rate: int) -> int:
    """Byte index of a time in a mono s16le buffer, aligned to a whole sample."""
    return max(0, round(seconds * sample_rate)) * SAMPLE_WIDTH


def as_wav(pcm: bytes | bytearray, sample_rate: int) -> bytes:
    """Wrap raw mono s16le PCM in a WAV container (no resampling, no ML: the voice service decodes it)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(sample_rate)
        wav.writeframes(bytes(pcm))
    return buffer.getvalue()
