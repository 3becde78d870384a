"""One abstract base per capability (speech-to-text, text-to-speech, streamed text-to-speech, voice activity, end of
turn) and the values they exchange."""

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import ClassVar, Literal

from voice.audio import Samples

EngineKind = Literal["stt", "tts", "vad", "turn"]


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float
    probability: float = 1.0


@dataclass(frozen=True)
class TranscriptSegment:
    id: int
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    temperature: float = 0.0


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    duration: float
    segments: tuple[TranscriptSegment, ...] = ()

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(word for segment in self.segments for word in segment.words)


@dataclass(frozen=True)
class TranscriptionOptions:
    language: str | None = None
    prompt: str | None = None
    temperature: float = 0.0
    word_timestamps: bool = False


@dataclass(frozen=True)
class SpeechSpan:
    """One stretch of speech, in seconds from the start of the audio."""

    start: float
    end: float


@dataclass(frozen=True)
class VoiceInfo:
    id: str
    engine: str
    language: str
    sample_rate: int
    name: str = ""
    extra: dict[str, str] = field(default_factory=dict)


class Engine(ABC):
    """What every engine shares: a kind, a name and a model id, a blocking load and a warm-up."""

    kind: ClassVar[EngineKind]
    name: ClassVar[str]
    licence: ClassVar[str] = ""

    @property
    @abstractmethod
    def model_id(self) -> str:
        """The id clients pass as `model`."""

    @abstractmethod
    def load(self) -> None:
        """Load weights (blocking); raise `EngineUnavailable` with a fix when that cannot work here."""

    @abstractmethod
    def warm_up(self) -> None:
        """Run one small real inference so that the first request does not pay for lazy initialisation."""


class SpeechToText(Engine):
    kind = "stt"
    sample_rate: ClassVar[int] = 16_000
    languages: tuple[str, ...] | None = None  # None: multilingual

    @abstractmethod
    def transcribe(self, audio: Samples, options: TranscriptionOptions) -> Transcript:
        """Transcribe mono float32 audio at `sample_rate`."""


class TextToSpeech(Engine):
    kind = "tts"

    @property
    @abstractmethod
    def sample_rate(self) -> int:
        """Rate of the float32 chunks `synthesize` yields."""

    @abstractmethod
    def voices(self) -> list[VoiceInfo]:
        """The voices this engine speaks with."""

    @abstractmethod
    def synthesize(self, text: str, voice: str, speed: float) -> Iterator[Samples]:
        """Yield audio chunk by chunk (sentence or clause) so the caller can send each as soon as it exists."""


class Utterance(ABC):
    """One utterance of a streaming engine: text pushed in pieces as it is written, audio yielded as it is made.

    Each iterator yields one chunk per step of the engine, so a caller that runs one `next` at a time in a worker
    thread can stop between any two chunks. One thread at a time: push, finish and close are never concurrent."""

    @abstractmethod
    def push(self, text: str) -> Iterator[Samples]:
        """Add `text` (any piece: a word's end may come in the next push) and yield the audio it can make already."""

    @abstractmethod
    def finish(self) -> Iterator[Samples]:
        """The text is complete: yield the rest of the audio, to its end."""

    @abstractmethod
    def close(self) -> None:
        """End the utterance and free the engine; before `finish` is exhausted this cancels it. Safe to call twice."""

    def __enter__(self) -> "Utterance":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


class StreamingTextToSpeech(TextToSpeech):
    """A text-to-speech engine that takes text as it streams (one utterance per answer, not per clause); callers test
    for this capability with `isinstance`, and every other engine is spoken clause by clause through `synthesize`."""

    @abstractmethod
    def utterance(self, voice: str) -> Utterance:
        """Start one utterance in `voice`; raise `EngineBusy` when the engine cannot speak another one now."""

    def synthesize(self, text: str, voice: str, speed: float) -> Iterator[Samples]:
        # The whole text is one push; closing the generator early closes (cancels) the utterance. `speed` is not passed
        # on: an utterance has no speaking-rate control (Kyutai sets its own pace).
        with self.utterance(voice) as utterance:
            yield from utterance.push(text)
            yield from utterance.finish()


class SpeechProbabilities(ABC):
    """One live audio stream's speech probability, frame by frame: each call costs only the audio it is given."""

    frame_samples: ClassVar[int]

    @abstractmethod
    def push(self, audio: Samples) -> Samples:
        """The probabilities of the whole frames completed by `audio` (what is left over waits for the next push)."""


class VoiceActivityDetector(Engine):
    kind = "vad"
    sample_rate: ClassVar[int] = 16_000

    @abstractmethod
    def detect(self, audio: Samples) -> list[SpeechSpan]:
        """Speech spans in mono float32 audio at `sample_rate`."""

    @abstractmethod
    def stream(self) -> SpeechProbabilities:
        """A new streaming detector (its own state) for one live audio stream at `sample_rate`."""


class TurnDetector(Engine):
    """Decides whether a speaker who has paused is done with their turn."""

    kind = "turn"
    sample_rate: ClassVar[int] = 16_000
    semantic: ClassVar[bool] = True  # False: it knows silence only, so sessions end turns on silence (server_vad)

    @abstractmethod
    def completion(self, audio: Samples) -> float:
        """Probability (0 to 1) that the speaker of this utterance so far (mono float32 audio at `sample_rate`,
        ending in the pause) has finished their turn."""
