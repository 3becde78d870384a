"""`session.update` on `/v1/realtime`: which of OpenAI's Realtime session fields the council honours, read into
one `RealtimeConfig`. A field it cannot honour either refuses the whole update (`Refused`: a different audio
format, function calling, an unknown voice: applying the rest would mislead the client) or is applied without the
field and named (`ignored`), so nothing is dropped silently."""

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from council.voice.realtime import TurnDetection

# OpenAI's built-in voice names: the council has none of them; they select the server's default voice.
OPENAI_VOICES = frozenset(("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"))
PCM_24K = {"type": "audio/pcm", "rate": 24000}
RATE = 24_000

Modality = Literal["audio", "text"]


class Refused(ValueError):
    """The update asks for something the council cannot do; `param` names the field (OpenAI's `error.param`)."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class RealtimeConfig:
    model: str
    default_voice: str  # the voice service's default (COUNCIL_VOICE__SPEECH_VOICE)
    voice: str | None = None  # a voice of the voice service; None: the default
    turn_detection: dict[str, Any] | None = field(default_factory=lambda: {"type": "semantic_vad"})
    transcription: dict[str, Any] | None = field(default_factory=lambda: {"model": "whisper"})
    modality: Modality = "audio"
    thread_id: str | None = None  # extension `session.council.thread_id`: continue a thread the caller owns
    instructions: str | None = None

    @property
    def detection(self) -> TurnDetection:
        if self.turn_detection is None:
            return "manual"
        return "semantic" if self.turn_detection["type"] == "semantic_vad" else "silence"

    @property
    def silence_s(self) -> float | None:
        """server_vad's own silence, when the client chose one."""
        ms = (self.turn_detection or {}).get("silence_duration_ms")
        return ms / 1000 if isinstance(ms, int) else None

    @property
    def respond(self) -> bool:
        """Each utterance is answered when it ends (`create_response`, true by default); never without detection."""
        return self.turn_detection is not None and self.turn_detection.get("create_response", True) is not False

    def session(self) -> dict[str, Any]:
        """As `session.created` / `session.updated` say it (a `RealtimeSessionCreateRequest`)."""
        session: dict[str, Any] = {
            "type": "realtime",
            "model": self.model,
            "output_modalities": [self.modality],
            "audio": {
                "input": {
                    "format": PCM_24K,
                    "transcription": self.transcription,
                    "turn_detection": self.turn_detection,
                    "noise_reduction": None,
                },
                "output": {"format": PCM_24K, "voice": self.voice or self.default_voice},
            },
            "tools": [],
            "tool_choice": "auto",
            "instructions": self.instructions or "",
            "council": {"thread_id": self.thread_id},
        }
        return session


_HONOURED_TURN = {
    "server_vad": {"type", "silence_duration_ms", "create_response", "interrupt_response"},
    "semantic_vad": {"type", "create_response", "interrupt_response"},
}


def updated(config: RealtimeConfig, session: object, voices: frozenset[str]) -> tuple[RealtimeConfig, list[str]]:
    """`config` with `session` applied, and the fields it left out (named in an error); `Refused` changes nothing."""
    if not isinstance(session, dict):
        raise Refused("session must be an object.", "session")
    ignored: list[str] = []
    changes: dict[str, Any] = {}
    for key, value in session.items():
        if value is None or key in ("type", "model", "object", "id", "expires_at"):
            if key == "type" and value not in (None, "realtime"):
                message = "Only realtime sessions are served here (transcription sessions are not)."
                raise Refused(message, "session.type")
            continue
        if key == "output_modalities":
            changes["modality"] = _modality(value, "session.output_modalities")
        elif key == "audio":
            changes |= _audio(value, voices, ignored)
        elif key in ("tools", "tool_choice"):
            if key == "tools" and value != []:
                message = "Function calling is not supported: the council answers with its own models."
                raise Refused(message, "session.tools")
            if key == "tool_choice" and value not in ("auto", "none"):
                raise Refused("Function calling is not supported.", "session.tool_choice")
        elif key == "instructions":
            changes["instructions"] = str(value)
            if value:  # kept for the echo, like the system messages of /v1/chat/completions: the roles' prompts answer
                ignored.append("session.instructions")
        elif key == "council":
            changes["thread_id"] = _thread(value)
        else:
            ignored.append(f"session.{key}")
    return replace(config, **changes), ignored


def _modality(value: object, param: str) -> Modality:
    if value in (["audio"], ["text"]):
        return "audio" if value == ["audio"] else "text"
    if isinstance(value, list) and sorted(value) == ["audio", "text"]:
        return "audio"  # audio comes with its transcript
    raise Refused('output_modalities: ["audio"] or ["text"].', param)


def _thread(value: object) -> str | None:
    thread = value.get("thread_id") if isinstance(value, dict) else None
    if thread is not None and not isinstance(thread, str):
        raise Refused("session.council.thread_id must be a string.", "session.council.thread_id")
    return thread


def _format(value: object, param: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict) or value.get("type") != "audio/pcm" or value.get("rate", RATE) != RATE:
        raise Refused("Only audio/pcm at 24000 Hz (mono s16le) is supported.", param)


def _audio(value: object, voices: frozenset[str], ignored: list[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Refused("session.audio must be an object.", "session.audio")
    changes: dict[str, Any] = {}
    given_input, given_output = value.get("input") or {}, value.get("output") or {}
    if not isinstance(given_input, dict) or not isinstance(given_output, dict):
        raise Refused("session.audio.input and .output must be objects.", "session.audio")
    for key, item in given_input.items():
        param = f"session.audio.input.{key}"
        if key == "format":
            _format(item, param)
        elif key == "turn_detection":
            changes["turn_detection"] = _turn_detection(item, ignored)
        elif key == "transcription":
            if item is not None and not isinstance(item, dict):
                raise Refused("transcription: an object, or null for none.", param)
            changes["transcription"] = item
        elif item is not None:
            ignored.append(param)  # noise_reduction: the voice service's VAD takes the audio as it is
    for key, item in given_output.items():
        param = f"session.audio.output.{key}"
        if key == "format":
            _format(item, param)
        elif key == "voice" and item is not None:
            changes["voice"] = _voice(item, voices, param)  # None: OpenAI's names pick the default
        elif item is not None:
            ignored.append(param)
    return changes


def _voice(value: object, voices: frozenset[str], param: str) -> str | None:
    name = value.get("id") if isinstance(value, dict) else value
    if not isinstance(name, str):
        raise Refused("voice: a voice name or {id}.", param)
    if name in voices:
        return name
    if name in OPENAI_VOICES:
        return None  # the server's default voice
    raise Refused(f"Unknown voice {name!r}; voices: {', '.join(sorted(voices))} (or any of OpenAI's names).", param)


def _turn_detection(value: object, ignored: list[str]) -> dict[str, Any] | None:
    param = "session.audio.input.turn_detection"
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") not in _HONOURED_TURN:
        raise Refused("turn_detection: {type: server_vad | semantic_vad}, or null for none.", param)
    if value.get("interrupt_response") is False:
        message = "interrupt_response false is not supported: speech over an answer interrupts it (backchannels aside)."
        raise Refused(message, f"{param}.interrupt_response")
    honoured = _HONOURED_TURN[value["type"]]
    kept = {k: v for k, v in value.items() if k in honoured and k != "interrupt_response" and v is not None}
    ignored.extend(f"{param}.{k}" for k in sorted(value) if k not in honoured and value[k] is not None)
    silence = kept.get("silence_duration_ms")
    if silence is not None and (not isinstance(silence, int) or not 100 <= silence <= 5000):
        raise Refused("silence_duration_ms: 100 to 5000.", f"{param}.silence_duration_ms")
    return kept
