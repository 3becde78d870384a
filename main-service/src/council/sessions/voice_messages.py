"""Text messages a client sends on `/ws/voice` (docs/voice-socket.md); its audio goes in binary frames."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from council.ids import ID_PATTERN
from council.orchestrator.smart_router import RequestedPath
from council.voice.realtime import TurnDetection


class _Control(BaseModel):
    model_config = ConfigDict(extra="ignore")  # a ping or cancel carrying more (an id, say) is still one


class Ping(_Control):
    type: Literal["ping"]


class CancelAnswer(_Control):
    """Stop the running answer: its generation and its speech."""

    type: Literal["cancel"]


class CommitTurn(_Control):
    """End the user's turn now, with the audio sent before this (push-to-talk: the button is released)."""

    type: Literal["commit"]


class SessionConfig(BaseModel):
    """The session's settings; each `config` message replaces the last one whole."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["config"]
    thread_id: str | None = Field(None, pattern=ID_PATTERN)
    path: RequestedPath = "auto"
    speak: bool = Field(True, description="Send the answer as speech too (binary frames).")
    language: str | None = Field(None, max_length=16)
    turn_detection: TurnDetection | None = Field(
        None, description="semantic, silence or manual (push-to-talk: `commit` ends a turn); default: the server's."
    )


VoiceClientMessage = Ping | CancelAnswer | CommitTurn | SessionConfig
MESSAGE_TYPES = frozenset(("ping", "cancel", "commit", "config"))
CLIENT_MESSAGE = TypeAdapter[VoiceClientMessage](Annotated[VoiceClientMessage, Field(discriminator="type")])
