"""What a voice conversation tells its client, whatever the socket's protocol: each protocol adapter
(`/ws/voice`: `sessions.voice`; `/v1/realtime`: `sessions.realtime`) encodes these in its own shapes.

Answer audio itself is `bytes` (24 kHz mono s16le), paced, between an `AudioStarted` and its `AudioEnded`.
"""

from dataclasses import dataclass

from council.errors import ErrorCode
from council.orchestrator.events import Event
from council.voice.answer import AudioEnded, AudioStarted
from council.voice.realtime import TurnDetection


@dataclass(frozen=True)
class Ready:
    """The voice service is reached: audio may flow."""

    input_rate: int
    turn_detection: TurnDetection


@dataclass(frozen=True)
class SpeechBegan:
    start_ms: int | None


@dataclass(frozen=True)
class Words:
    """Words of the utterance in progress that have become stable (append-only)."""

    delta: str


@dataclass(frozen=True)
class SpeechEnded:
    seconds: float | None
    reason: str | None  # what decided the end of the turn (docs/voice-socket.md)
    end_ms: int | None


@dataclass(frozen=True)
class Heard:
    """An utterance's final transcript. `turn_id` names the turn that answers it (None: no answer starts now:
    the text is empty, or the client asks for answers itself); `preemptive`: that answer began at the pause."""

    text: str
    turn_id: str | None
    preemptive: bool = False


@dataclass(frozen=True)
class TurnEvent:
    """One of the orchestrator's events of turn `turn_id` (route, member.*, synthesis.delta, final, error)."""

    turn_id: str
    event: Event


@dataclass(frozen=True)
class TurnEnded:
    """Turn `turn_id` is over, its speech played whole; `failed`: it ended with an error already said."""

    turn_id: str
    failed: bool = False


@dataclass(frozen=True)
class AudioHeld:
    """The user speaks over the answer: its audio is held (nothing more is sent until resumed or cancelled)."""

    turn_id: str


@dataclass(frozen=True)
class AudioResumed:
    """The speech over the answer was no interruption (`reason`: backchannel or noise): its audio goes on."""

    turn_id: str
    reason: str
    text: str


@dataclass(frozen=True)
class BargeIn:
    """The user interrupted turn `turn_id`; a `TurnCancelled` follows."""

    turn_id: str


@dataclass(frozen=True)
class TurnCancelled:
    turn_id: str | None


@dataclass(frozen=True)
class Failure:
    code: ErrorCode | str
    message: str
    turn_id: str | None = None
    retry_after: int | None = None


Notice = (
    Ready
    | SpeechBegan
    | Words
    | SpeechEnded
    | Heard
    | TurnEvent
    | TurnEnded
    | AudioStarted
    | AudioEnded
    | AudioHeld
    | AudioResumed
    | BargeIn
    | TurnCancelled
    | Failure
)

__all__ = [
    "AudioEnded",
    "AudioHeld",
    "AudioResumed",
    "AudioStarted",
    "BargeIn",
    "Failure",
    "Heard",
    "Notice",
    "Ready",
    "SpeechBegan",
    "SpeechEnded",
    "TurnCancelled",
    "TurnEnded",
    "TurnEvent",
    "Words",
]
