"""The engines chosen by settings, looked up by model or voice id; a miss says what exists and how to get more."""

import re
from collections.abc import Sequence
from typing import TypeVar

import anyio.to_thread

from voice.engines.base import Engine, SpeechToText, TextToSpeech, TurnDetector, VoiceActivityDetector, VoiceInfo
from voice.engines.loading import EngineState, JobQueue, LoadedEngine
from voice.engines.stt.parakeet import ParakeetSTT
from voice.engines.stt.whisper import WhisperSTT
from voice.engines.tts.kyutai import KyutaiTTS
from voice.engines.tts.piper import PiperTTS
from voice.engines.tts.xtts import XttsTTS
from voice.engines.turn.silence import SilenceTurn
from voice.engines.turn.smart_turn import SmartTurn
from voice.engines.vad.silero import SileroVAD
from voice.errors import InvalidRequest, ModelNotFound, VoiceNotFound
from voice.health import Check
from voice.observability.metrics import Metrics
from voice.settings import Settings, SttEngineName, TtsEngineName

# OpenAI's model names, so that clients written for it work unchanged: they mean "this service's default".
STT_ALIASES = frozenset({"whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"})
TTS_ALIASES = frozenset({"tts-1", "tts-1-hd", "gpt-4o-mini-tts"})
_VOICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def build_stt(name: SttEngineName, settings: Settings) -> SpeechToText:
    if name == "whisper":
        return WhisperSTT(settings.stt, settings.vad)
    return ParakeetSTT(settings.stt, settings.models)


def build_tts(name: TtsEngineName, settings: Settings) -> TextToSpeech:
    if name == "piper":
        return PiperTTS(settings.tts)
    if name == "kyutai":
        return KyutaiTTS(settings.tts, settings.models)
    return XttsTTS(settings.tts, settings.models)


_Engine = TypeVar("_Engine", bound=Engine)


def _by_model(
    engines: Sequence[LoadedEngine[_Engine]], model: str, aliases: frozenset[str], kind: str
) -> LoadedEngine[_Engine]:
    """The engine a request names by model id or engine name; an OpenAI alias means the default (the first)."""
    if model in aliases:
        return engines[0]
    for loaded in engines:
        if model in (loaded.engine.model_id, loaded.name):
            return loaded
    known = ", ".join(sorted({*aliases, *(loaded.engine.model_id for loaded in engines)}))
    raise ModelNotFound(f"Unknown {kind} model {model!r}; this service has: {known} (see GET /v1/models).")


class EngineRegistry:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        limits = settings.limits

        def queue(name: str) -> JobQueue:
            return JobQueue(
                name, limits.max_concurrent_jobs, limits.max_queued_jobs, limits.retry_after_seconds, metrics
            )

        self.stt: list[LoadedEngine[SpeechToText]] = []
        self.tts: list[LoadedEngine[TextToSpeech]] = []
        self.vad: LoadedEngine[VoiceActivityDetector] | None = None
        self.turn: list[LoadedEngine[TurnDetector]] = []
        if settings.stt.enabled:
            for name in dict.fromkeys([settings.stt.engine, *settings.stt.optional]):
                engine = build_stt(name, settings)
                self.stt.append(
                    LoadedEngine(engine, default=name == settings.stt.engine, queue=queue(name), metrics=metrics)
                )
        if settings.tts.enabled:
            for tts_name in dict.fromkeys([settings.tts.engine, *settings.tts.optional]):
                tts = build_tts(tts_name, settings)
                self.tts.append(
                    LoadedEngine(tts, default=tts_name == settings.tts.engine, queue=queue(tts_name), metrics=metrics)
                )
        if settings.vad.enabled:
            self.vad = LoadedEngine(SileroVAD(settings.vad), default=True, queue=queue("silero"), metrics=metrics)
            # Turn detection listens with the VAD. Silence needs no model and is always there, so a Smart Turn that
            # cannot load is a warning (sessions end turns on silence), never a reason for the replica to be unready.
            if settings.turn.engine == "smart-turn":
                smart = SmartTurn(settings.turn)
                self.turn.append(
                    LoadedEngine(smart, default=True, critical=False, queue=queue(smart.name), metrics=metrics)
                )
            silence: LoadedEngine[TurnDetector] = LoadedEngine(
                SilenceTurn(), default=not self.turn, critical=False, queue=queue(SilenceTurn.name), metrics=metrics
            )
            silence.load()  # no model: ready at once, so no probe ever sees the fallback still loading
            self.turn.append(silence)

    def all(
        self,
    ) -> Sequence[
        LoadedEngine[SpeechToText]
        | LoadedEngine[TextToSpeech]
        | LoadedEngine[VoiceActivityDetector]
        | LoadedEngine[TurnDetector]
    ]:
        return [*self.stt, *self.tts, *([self.vad] if self.vad else []), *self.turn]

    async def load_all(self) -> None:
        """Load and warm every engine, one after the other in a worker thread (they share the same cores)."""
        for loaded in self.all():
            if loaded.state is EngineState.LOADING:
                await anyio.to_thread.run_sync(loaded.load)

    def checks(self) -> list[Check]:
        return [loaded.check() for loaded in self.all()]

    def turn_detector(self) -> LoadedEngine[TurnDetector] | None:
        """The configured turn engine if it is ready, else plain silence (None while nothing is ready)."""
        return next((loaded for loaded in self.turn if loaded.state is EngineState.READY), None)

    def transcriber(self, model: str) -> LoadedEngine[SpeechToText]:
        if not self.stt:
            raise ModelNotFound("Speech-to-text is disabled on this replica (VOICE_STT__ENABLED=false).")
        return _by_model(self.stt, model, STT_ALIASES, "transcription")

    def synthesizer(self, model: str) -> LoadedEngine[TextToSpeech]:
        if not self.tts:
            raise ModelNotFound("Text-to-speech is disabled on this replica (VOICE_TTS__ENABLED=false).")
        return _by_model(self.tts, model, TTS_ALIASES, "speech")

    def voices(self) -> list[VoiceInfo]:
        return [voice for loaded in self.tts if loaded.state is EngineState.READY for voice in loaded.engine.voices()]

    def resolve_voice(self, voice: str, engine: LoadedEngine[TextToSpeech]) -> str:
        """The voice id if `engine` speaks it; never used as a path, and path-like names are refused outright."""
        if not _VOICE_ID.match(voice) or ".." in voice:
            raise InvalidRequest(
                f"Invalid voice name {voice!r}: use letters, digits, '_', '-' or '.' (see GET /v1/audio/voices)."
            )
        ready = engine.require_ready()
        known = [info.id for info in ready.voices()]
        if voice not in known:
            raise VoiceNotFound(
                f"Unknown voice {voice!r} for model {ready.model_id}; it has: {', '.join(known)} (see GET /v1/audio/voices)."
            )
        return voice
