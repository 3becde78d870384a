"""Speaking a voice session's answers: one utterance at a time (an acknowledgement, then the answer), each in the
voice of the role that wrote it, its audio handed to the session's paced playback as the voice service makes it.
A fixed phrase (the acknowledgement) is synthesized once and then played from `SpokenClips`.

Losing the speaking socket or a failed synthesis is reported once through `report`; the answer's text goes on.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import structlog

from council.errors import ErrorCode
from council.voice.breaker import CircuitBreaker
from council.voice.clips import SpokenClips
from council.voice.playback import Playback
from council.voice.realtime import SocketGone, Speaker, SpeechDone, SpokenAudio, VoiceServiceError

AudioKind = Literal["answer", "acknowledgement"]
OUTPUT_RATE = 24_000  # OpenAI `pcm`: 24 kHz mono s16le out
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class AudioStarted:
    """An utterance's audio follows (queued in the playback before its first frame)."""

    turn_id: str
    kind: AudioKind
    voice: str
    text: str | None  # the words, when known up front (an acknowledgement)


@dataclass(frozen=True)
class AudioEnded:
    """An utterance's audio has all been sent."""

    turn_id: str
    kind: AudioKind


UtteranceNotice = AudioStarted | AudioEnded

Report = Callable[[ErrorCode, str, str | None], Awaitable[None]]  # (code, message, turn id)


@dataclass
class Utterance:
    """One stretch of speech of a turn (an acknowledgement, or the answer), spoken in one voice."""

    turn_id: str
    kind: AudioKind
    voice: str
    text: str | None = None  # said in `AudioStarted` when the words are known up front (an acknowledgement)
    started: bool = False
    recording: bytearray | None = None  # its audio, collected to be kept in `SpokenClips` (fixed phrases)
    silent: bool = False  # synthesized only to be kept: nothing of it is played
    synthesized: asyncio.Event = field(default_factory=asyncio.Event)  # the voice service has spoken all of it
    played: asyncio.Event = field(default_factory=asyncio.Event)  # its last frame has left for the client


class AnswerVoice:
    def __init__(
        self,
        speaker: Speaker,
        playback: Playback[UtteranceNotice],
        *,
        voices: Mapping[str, str],
        default_voice: str,
        report: Report,
        breaker: CircuitBreaker,
        clips: SpokenClips,
    ) -> None:
        self.speaker: Speaker | None = speaker  # None once speaking has stopped for good
        self.playback = playback
        self.voices = voices
        self.default_voice = default_voice
        self.report = report
        self.breaker = breaker
        self.clips = clips
        self.utterance: Utterance | None = None  # the one whose audio is arriving from the voice service

    @property
    def audible(self) -> bool:
        """Audio of the current utterance has started (so pausing it is news to the client)."""
        return self.utterance is not None and self.utterance.started

    async def begin(
        self, turn_id: str, kind: AudioKind, role: str, text: str | None = None, *, keep: bool = False
    ) -> Utterance | None:
        """Start an utterance after the previous one has been synthesized (one voice at a time); with `keep`, its
        audio is kept for `say_phrase` (its `text` is then the whole of what will be said)."""
        if self.speaker is None:
            return None
        await self._after_current()
        voice_id = self.voices.get(role, self.default_voice)
        self.utterance = Utterance(turn_id, kind, voice_id, text, recording=bytearray() if keep else None)
        try:
            await self.speaker.begin(voice_id)
        except SocketGone as exc:
            await self.lost(turn_id, exc)
            return None
        return self.utterance

    async def say_phrase(self, turn_id: str, kind: AudioKind, role: str, text: str) -> Utterance | None:
        """Speak a fixed phrase whole: from its kept clip when there is one (no synthesis), else synthesized and
        kept for next time."""
        if self.speaker is None:
            return None
        await self._after_current()
        voice_id = self.voices.get(role, self.default_voice)
        pcm = self.clips.get(voice_id, text)
        if pcm is None:
            utterance = await self.begin(turn_id, kind, role, text, keep=True)
            if utterance is not None and await self.say(text):
                await self.finish()
            return utterance
        self.utterance = utterance = Utterance(turn_id, kind, voice_id, text)
        self._started(utterance)
        self.playback.audio(turn_id, pcm)
        self._done(utterance)
        return utterance

    async def keep_ready(self, role: str, text: str) -> None:
        """Synthesize a fixed phrase ahead of its first use, unheard, so that even its first use is instant."""
        voice_id = self.voices.get(role, self.default_voice)
        if self.speaker is None or self.clips.get(voice_id, text) is not None:
            return
        utterance = await self.begin("", "acknowledgement", role, text, keep=True)
        if utterance is not None:
            utterance.silent = True
            if await self.say(text):
                await self.finish()

    async def _after_current(self) -> None:
        if self.utterance is not None:
            await self.utterance.synthesized.wait()

    async def say(self, text: str) -> bool:
        if self.speaker is None or self.utterance is None:
            return False
        try:
            await self.speaker.say(text)
        except SocketGone as exc:
            await self.lost(self.utterance.turn_id, exc)
            return False
        return True

    async def finish(self) -> bool:
        if self.speaker is None or self.utterance is None:
            return False
        try:
            await self.speaker.finish()
        except SocketGone as exc:
            await self.lost(self.utterance.turn_id, exc)
            return False
        return True

    async def cancel(self, turn_id: str) -> None:
        """Forget the turn's queued audio and stop its synthesis at once."""
        self.playback.drop(turn_id)
        if self.utterance is not None:  # whoever waits for it (the next utterance) goes on
            self.utterance.synthesized.set()
            self.utterance.played.set()
        self.utterance = None
        if self.speaker is not None:
            with contextlib.suppress(SocketGone):
                await self.speaker.cancel()

    def stop(self) -> None:
        """Speak no more (the socket is gone or closing); whoever waits on the current utterance goes on."""
        self.speaker = None
        if self.utterance is not None:
            self.utterance.synthesized.set()
            self.utterance.played.set()

    async def lost(self, turn_id: str | None, exc: Exception) -> None:
        """The speaking socket is gone: said once; the answer's text goes on, unspoken."""
        if self.speaker is None:
            return
        self.stop()
        self.breaker.record_failure(str(exc))
        await self.report(ErrorCode.VOICE_UNAVAILABLE, f"Speech stopped: {exc}; the text goes on.", turn_id)

    async def run(self) -> None:
        """Route the speaking socket's audio to the playback of the utterance it belongs to."""
        speaker = self.speaker
        assert speaker is not None
        try:
            async for spoken in speaker.spoken():
                utterance = self.utterance
                if isinstance(spoken, VoiceServiceError):
                    await self._failed(utterance, spoken)
                elif utterance is None:
                    continue  # audio of a turn that was cancelled
                elif isinstance(spoken, SpokenAudio):
                    if utterance.recording is not None:
                        utterance.recording.extend(spoken.pcm)
                    if not utterance.silent:
                        if not utterance.started:
                            self._started(utterance)
                        self.playback.audio(utterance.turn_id, spoken.pcm)
                elif isinstance(spoken, SpeechDone):
                    if utterance.recording is not None and utterance.text:
                        self.clips.put(utterance.voice, utterance.text, bytes(utterance.recording))
                    if utterance.silent:
                        utterance.synthesized.set()
                        utterance.played.set()
                    else:
                        self._done(utterance)
        except SocketGone as exc:
            await self.lost(self.utterance.turn_id if self.utterance else None, exc)

    def _started(self, utterance: Utterance) -> None:
        utterance.started = True
        notice = AudioStarted(utterance.turn_id, utterance.kind, utterance.voice, utterance.text)
        self.playback.event(utterance.turn_id, notice)

    def _done(self, utterance: Utterance) -> None:
        """All of it is synthesized: its end (if it was heard) and its `played` marker follow its audio."""
        if utterance.started:
            self.playback.event(utterance.turn_id, AudioEnded(utterance.turn_id, utterance.kind))
        self.playback.marker(utterance.turn_id, utterance.played)
        utterance.synthesized.set()

    async def _failed(self, utterance: Utterance | None, error: VoiceServiceError) -> None:
        """Synthesis failed (e.g. the engine is busy): said with the turn's id; the rest of that utterance is not
        spoken (the voice service forgets it), the text goes on."""
        turn_id = utterance.turn_id if utterance else None
        if utterance is not None and utterance.silent:  # a phrase made ahead of need: it is made when first said
            log.warning("voice_phrase_not_kept", error=error.message)
        else:
            await self.report(ErrorCode.VOICE_FAILED, f"Speech synthesis failed: {error.message}", turn_id)
        if utterance is not None and utterance is self.utterance:
            await self.cancel(utterance.turn_id)
            utterance.synthesized.set()
            utterance.played.set()
