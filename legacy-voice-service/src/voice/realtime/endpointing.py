"""Where utterances start, pause and end in a live audio stream, decided frame by frame from speech probabilities.

Pure bookkeeping (no I/O): the realtime session feeds it Silero's per-frame probabilities and acts on what it
returns; asking the turn engine whether a pause ends the turn is the session's job."""

import math
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Literal

from voice.errors import InvalidRequest

HYSTERESIS = 0.15  # once speaking, frames down to threshold - this still count as speech (as Silero's own endpointing)


class StopReason(StrEnum):
    AUDIO = "audio"  # semantic_vad: the turn engine was sure the speaker is done (`end_of_turn`)
    TEXT = "text"  # semantic_vad: the turn engine was unsure, the transcript's words read as a finished turn
    BOTH = "both"  # semantic_vad: the turn engine was sure and the words agree
    SILENCE = "silence"  # server_vad: silence_duration_ms of silence
    TIMEOUT = "timeout"  # semantic_vad: the turn engine said "not done", but max silence passed
    MAX_LENGTH = "max_length"  # the utterance reached VOICE_LIMITS__MAX_AUDIO_SECONDS


@dataclass(frozen=True)
class TurnDetection:
    """A session's turn detection, in OpenAI's `session.turn_detection` shape."""

    type: Literal["semantic_vad", "server_vad"]
    silence_duration_ms: int  # server_vad: the silence that ends a turn; semantic_vad: the most it may last
    # semantic_vad, an extension: "client" = the client reads each pause's words with a language model and says what
    # it read (`input_audio_buffer.text_end_of_turn`); "rules" = only this service's rules read them
    text_end_of_turn: Literal["rules", "client"] = "rules"

    def as_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"type": self.type, "silence_duration_ms": self.silence_duration_ms}
        if self.type == "semantic_vad":
            shown["text_end_of_turn"] = self.text_end_of_turn
        return shown

    @classmethod
    def parse(cls, value: dict[str, Any], *, semantic: "TurnDetection", server: "TurnDetection") -> "TurnDetection":
        """The detection a client asks for; `semantic` and `server` are what each type means here (defaults)."""
        kind = value.get("type", "server_vad")
        if kind not in ("semantic_vad", "server_vad"):
            raise InvalidRequest(f"Bad event: turn_detection.type must be semantic_vad or server_vad, not {kind!r}.")
        if kind == "semantic_vad" and semantic.type == "semantic_vad":
            text = value.get("text_end_of_turn", "rules")
            if text not in ("rules", "client"):
                raise InvalidRequest("Bad event: turn_detection.text_end_of_turn must be rules or client.")
            return replace(semantic, text_end_of_turn=text)
        if kind == "semantic_vad":
            return semantic
        silence = value.get("silence_duration_ms", server.silence_duration_ms)
        if not isinstance(silence, int) or isinstance(silence, bool) or not 100 <= silence <= 10_000:
            raise InvalidRequest("Bad event: turn_detection.silence_duration_ms must be an integer from 100 to 10000.")
        return cls("server_vad", silence)


@dataclass(frozen=True)
class Onset:
    start_s: float  # where the speech began, in the session's audio


@dataclass(frozen=True)
class Quiet:
    speech_end_s: float  # transcribe silence reached: time to start the transcript of the utterance so far


@dataclass(frozen=True)
class Pause:
    speech_end_s: float  # short silence reached: time to ask the turn engine


@dataclass(frozen=True)
class Resumed:
    """Speech came back after a quiet moment or a pause that did not end the turn."""


@dataclass(frozen=True)
class Stopped:
    speech_end_s: float
    reason: StopReason


Moment = Onset | Quiet | Pause | Resumed | Stopped


class Endpointer:
    """One session's utterance state. Speech starts after `onset_ms` of frames at or above `threshold`; once
    speaking, `transcribe_silence_ms` of silence is a quiet moment (the transcript may start: its words are those
    of the pause to come, unless speech resumes first), `short_silence_ms` a pause, and the turn stops after
    `detection.silence_duration_ms` of silence (server_vad: reason silence; semantic_vad: reason timeout, when the
    turn engine did not end it first through `stop`). Speech after a pause needs `onset_ms` again to count, so a
    click does not resume; before the pause any speech frame does (the quiet moment comes again after it)."""

    def __init__(
        self,
        *,
        frame_s: float,
        threshold: float,
        onset_ms: int,
        transcribe_silence_ms: int,
        short_silence_ms: int,
        detection: TurnDetection,
    ) -> None:
        self.frame_s = frame_s
        self.threshold = threshold
        self.onset_frames = max(1, math.ceil(onset_ms / 1000 / frame_s - 1e-9))
        self.short_silence_s = short_silence_ms / 1000
        self.transcribe_silence_s = min(transcribe_silence_ms, short_silence_ms) / 1000
        self.detection = detection
        self.now_s = 0.0  # the end of the last frame fed, in the session's audio
        self.speaking = False
        self.quiet = False  # `Quiet` was reported for the current silence
        self.paused = False
        self.speech_end_s = 0.0
        self._run = 0  # consecutive frames at or above the threshold

    def feed(self, probabilities: Any) -> list[Moment]:
        """What the next frames' speech probabilities start, pause, resume or stop (usually nothing)."""
        moments: list[Moment] = []
        for probability in probabilities:
            self.now_s += self.frame_s
            self._run = self._run + 1 if probability >= self.threshold else 0
            if not self.speaking:
                if self._run >= self.onset_frames:
                    self.speaking, self.speech_end_s = True, self.now_s
                    moments.append(Onset(self.now_s - self._run * self.frame_s))
                continue
            if self.paused:
                if self._run >= self.onset_frames:
                    self.paused = self.quiet = False
                    self.speech_end_s = self.now_s
                    moments.append(Resumed())
            elif probability >= self.threshold - HYSTERESIS:
                self.speech_end_s = self.now_s
                if self.quiet:
                    self.quiet = False
                    moments.append(Resumed())
            silence = self.now_s - self.speech_end_s
            if silence >= self.detection.silence_duration_ms / 1000 - 1e-9:
                reason = StopReason.TIMEOUT if self.detection.type == "semantic_vad" else StopReason.SILENCE
                moments.append(self.stop(reason))
                continue
            if not self.quiet and silence >= self.transcribe_silence_s - 1e-9:
                self.quiet = True
                moments.append(Quiet(self.speech_end_s))
            if not self.paused and silence >= self.short_silence_s - 1e-9:
                self.paused = True
                moments.append(Pause(self.speech_end_s))
        return moments

    @property
    def in_speech(self) -> bool:
        """The newest frame was speech (not the silence an utterance may be ending in)."""
        return self.speaking and self.speech_end_s == self.now_s

    def stop(self, reason: StopReason) -> Stopped:
        """End the utterance now (the turn engine's verdict, a length limit, or the silence above)."""
        stopped = Stopped(self.speech_end_s, reason)
        self.reset()
        return stopped

    def reset(self) -> None:
        self.speaking = self.quiet = self.paused = False
        self._run = 0
