"""The two live sockets a voice session holds to the voice service: `WS /v1/realtime` and `WS /v1/realtime/speech`.

`Listener` streams the user's audio in; the voice service finds speech, decides when the turn is over (semantic or
silence end of turn) and transcribes, partials included. `Speaker` streams the answer's text in as it is written;
the voice service speaks it sentence by sentence, and `cancel` silences it at once. Both translate the voice
service's events (OpenAI Realtime shapes) into the small types below, so nothing else in this service parses them.
"""

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from council.voice.client import VoiceClient

log = structlog.get_logger(__name__)

TurnDetection = Literal["semantic", "silence", "manual"]


@dataclass(frozen=True)
class SpeechStarted:
    start_ms: int | None = None  # where in the audio sent so far, as the voice service counts it


@dataclass(frozen=True)
class TranscriptDelta:
    text: str


@dataclass(frozen=True)
class SpeechStopped:
    seconds: float | None
    reason: str | None
    end_ms: int | None = None


@dataclass(frozen=True)
class Transcript:
    text: str


@dataclass(frozen=True)
class Paused:
    """A pause's transcript, while the turn is still being decided (an answer may start from it, and the words may
    be read for the turn's end: `Listener.read_words`)."""

    text: str
    item_id: str
    end_ms: int  # where the pause's audio ends, as the voice service counts it: names the pause


@dataclass(frozen=True)
class Resumed:
    """Speech came back after `Paused`: what was started from its transcript is void."""


@dataclass(frozen=True)
class VoiceServiceError:
    code: str
    message: str


Heard = SpeechStarted | TranscriptDelta | SpeechStopped | Transcript | Paused | Resumed | VoiceServiceError


@dataclass(frozen=True)
class SpokenAudio:
    pcm: bytes  # s16le mono 24 kHz


@dataclass(frozen=True)
class SpeechDone:
    pass


Spoken = SpokenAudio | SpeechDone | VoiceServiceError


class SocketGone(Exception):
    """The voice service's socket closed under us (it died, restarted or dropped the session)."""


def _error(event: dict[str, Any]) -> VoiceServiceError:
    error = event.get("error")
    if not isinstance(error, dict):
        error = {}
    return VoiceServiceError(str(error.get("code", "voice_failed")), str(error.get("message", "voice service error")))


async def _events(socket: ClientConnection) -> AsyncIterator[dict[str, Any]]:
    try:
        async for message in socket:
            event = json.loads(message)
            if isinstance(event, dict):
                yield event
    except ConnectionClosed as exc:
        raise SocketGone(f"the voice service closed the real-time socket ({exc.rcvd or 'no close frame'})") from exc
    raise SocketGone("the voice service closed the real-time socket")


class _RealtimeSocket:
    """What both sockets share: sending (a closed socket is `SocketGone`), closing, and dropping."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket

    async def aclose(self) -> None:
        await self.socket.close()

    def abort(self) -> None:
        """Drop the connection without a closing handshake (when there is no time to await one)."""
        self.socket.transport.abort()

    async def _send(self, message: dict[str, Any] | bytes) -> None:
        try:
            await self.socket.send(message if isinstance(message, bytes) else json.dumps(message))
        except ConnectionClosed as exc:
            raise SocketGone("the voice service closed the real-time socket") from exc


class Listener(_RealtimeSocket):
    """Audio in; speech onsets, partial and final transcripts and ends of turn out."""

    def __init__(self, socket: ClientConnection) -> None:
        super().__init__(socket)
        self._started_ms: int | None = None
        # The voice service said it waits for readings of pauses' words (an older one ignores the ask, and would
        # answer a reading with an error): only then are they sent.
        self.reads_words = False

    @classmethod
    async def open(cls, voice: VoiceClient, sample_rate: int) -> "Listener":
        return cls(await voice.open_realtime(sample_rate=str(sample_rate)))

    async def configure(self, detection: TurnDetection, silence_s: float, *, read_words: bool = False) -> None:
        """`read_words`: each pause's words will be read (`read_words`), and the voice service waits for that."""
        detections: dict[TurnDetection, dict[str, Any] | None] = {
            "semantic": {"type": "semantic_vad", "text_end_of_turn": "client" if read_words else "rules"},
            "silence": {"type": "server_vad", "silence_duration_ms": round(silence_s * 1000)},
            "manual": None,  # push-to-talk: only `commit` ends an utterance
        }
        turn = detections[detection]
        # Word timestamps cost the voice service a second pass per transcript, and nothing here reads them.
        transcription = {"word_timestamps": False}
        await self._send(
            {"type": "session.update", "session": {"turn_detection": turn, "input_audio_transcription": transcription}}
        )

    async def send_audio(self, pcm: bytes) -> None:
        await self._send(pcm)

    async def read_words(self, paused: Paused, probability: float) -> None:
        """What a language model read in a pause's words: the probability that the user's message ends there."""
        await self._send(
            {
                "type": "input_audio_buffer.text_end_of_turn",
                "item_id": paused.item_id,
                "audio_end_ms": paused.end_ms,
                "probability": probability,
            }
        )

    async def commit(self) -> None:
        """End the utterance at once (the audio sent before this included): its transcript follows."""
        await self._send({"type": "input_audio_buffer.commit"})

    async def clear(self) -> None:
        """Forget the audio of the utterance in progress (sent, not yet committed)."""
        await self._send({"type": "input_audio_buffer.clear"})

    async def heard(self) -> AsyncIterator[Heard]:
        async for event in _events(self.socket):
            kind = event.get("type")
            if kind in ("session.created", "session.updated"):
                session = event.get("session")
                detection = session.get("turn_detection") if isinstance(session, dict) else None
                self.reads_words = isinstance(detection, dict) and detection.get("text_end_of_turn") == "client"
            elif kind == "input_audio_buffer.speech_started":
                self._started_ms = started = event.get("audio_start_ms")
                yield SpeechStarted(started if isinstance(started, int) else None)
            elif kind == "input_audio_buffer.speech_stopped":
                end_ms, start_ms = event.get("audio_end_ms"), self._started_ms
                seconds = (end_ms - start_ms) / 1000 if isinstance(end_ms, int) and isinstance(start_ms, int) else None
                yield SpeechStopped(seconds, event.get("reason"), end_ms if isinstance(end_ms, int) else None)
            elif kind == "conversation.item.input_audio_transcription.delta":
                yield TranscriptDelta(str(event.get("delta", "")))
            elif kind == "conversation.item.input_audio_transcription.completed":
                yield Transcript(str(event.get("transcript", "")).strip())
            elif kind == "input_audio_buffer.paused":
                end_ms = event.get("audio_end_ms")
                text, item_id = str(event.get("transcript", "")).strip(), str(event.get("item_id", ""))
                yield Paused(text, item_id, end_ms if isinstance(end_ms, int) else 0)
            elif kind == "input_audio_buffer.resumed":
                yield Resumed()
            elif kind == "error":
                yield _error(event)


class Speaker(_RealtimeSocket):
    """Text in as it is written, speech out as the voice service makes it (by clause, or frame by frame with a
    streaming engine); one utterance after another, each in its own voice.

    `cancel` asks the voice service to forget queued text and stop at once; audio of the cancelled text that was
    already on its way is dropped here until the service confirms (`speech.cancelled`), so none of it is played.
    """

    def __init__(self, socket: ClientConnection) -> None:
        super().__init__(socket)
        self._cancels_unconfirmed = 0

    @classmethod
    async def open(cls, voice: VoiceClient) -> "Speaker":
        return cls(await voice.open_realtime("/v1/realtime/speech"))

    async def begin(self, voice_id: str) -> None:
        await self._send({"type": "session.update", "session": {"voice": voice_id}})

    async def say(self, text: str) -> None:
        if text:
            await self._send({"type": "speech.text.delta", "delta": text})

    async def finish(self) -> None:
        await self._send({"type": "speech.text.done"})

    async def cancel(self) -> None:
        self._cancels_unconfirmed += 1
        await self._send({"type": "speech.cancel"})

    async def spoken(self) -> AsyncIterator[Spoken]:
        async for event in _events(self.socket):
            kind = event.get("type")
            if kind == "speech.cancelled":
                self._cancels_unconfirmed = max(0, self._cancels_unconfirmed - 1)
            elif self._cancels_unconfirmed:
                continue  # belongs to text that was cancelled
            elif kind == "speech.audio.delta":
                pcm = base64.b64decode(str(event.get("delta", "")))
                if pcm:
                    yield SpokenAudio(pcm)
            elif kind == "speech.audio.done":
                yield SpeechDone()
            elif kind == "error":
                yield _error(event)
