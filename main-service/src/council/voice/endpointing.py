"""Server-side endpointing of a live PCM stream: speech start, speech end, and the utterance between them.

The voice-activity model runs in the voice service (the main service stays free of ML libraries); this class
only decides *when* to ask it and what the answers mean, so it is tested with scripted detections.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from council.voice.pcm import byte_offset, duration_s
from council.voice.speech import SpeechSpan

Detect = Callable[[bytes], Awaitable[list[SpeechSpan]]]


@dataclass(frozen=True)
class EndpointerConfig:
    sample_rate: int = 16_000
    check_every_s: float = 0.3  # how much new audio between two VAD calls
    silence_s: float = 0.7  # trailing silence that ends an utterance
    pre_roll_s: float = 0.3  # audio kept before speech so its first syllable is not cut
    max_utterance_s: float = 30.0  # an utterance this long is ended and transcribed as it is


@dataclass(frozen=True)
class SpeechStarted:
    pass


@dataclass(frozen=True)
class SpeechEnded:
    pcm: bytes
    seconds: float


Signal = SpeechStarted | SpeechEnded


class Endpointer:
    def __init__(self, detect: Detect, config: EndpointerConfig) -> None:
        self.detect = detect
        self.config = config
        self.buffer = bytearray()
        self.speaking = False
        self._unchecked = 0

    async def feed(self, pcm: bytes) -> list[Signal]:
        """Add audio; returns what happened (speech started, and/or an utterance that ended)."""
        self.buffer += pcm
        self._unchecked += len(pcm)
        if duration_s(self.buffer, self.config.sample_rate) >= self.config.max_utterance_s and self.speaking:
            return [self._end(len(self.buffer))]
        if self._unchecked < byte_offset(self.config.check_every_s, self.config.sample_rate):
            return []
        self._unchecked = 0
        spans = await self.detect(bytes(self.buffer))
        signals: list[Signal] = []
        if spans and not self.speaking:
            self.speaking = True
            signals.append(SpeechStarted())
        if self.speaking and spans:
            buffered = duration_s(self.buffer, self.config.sample_rate)
            if buffered - spans[-1].end >= self.config.silence_s:
                signals.append(self._end(byte_offset(spans[-1].end + self.config.pre_roll_s, self.config.sample_rate)))
        elif not self.speaking:
            self._trim_to_pre_roll()
        return signals

    def _end(self, end_byte: int) -> SpeechEnded:
        utterance = bytes(self.buffer[:end_byte])
        del self.buffer[:end_byte]
        self.speaking = False
        self._trim_to_pre_roll()
        return SpeechEnded(utterance, duration_s(utterance, self.config.sample_rate))

    def _trim_to_pre_roll(self) -> None:
        keep = byte_offset(self.config.pre_roll_s, self.config.sample_rate)
        if len(self.buffer) > keep:
            del self.buffer[: len(self.buffer) - keep]
