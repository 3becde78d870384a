"""Messages a client sends on `/ws/chat` (see docs/websocket.md); server messages are orchestrator events + `id`."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from council.ids import ID_PATTERN
from council.orchestrator.smart_router import RequestedPath


class _ClientMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SendMessage(_ClientMessage):
    type: Literal["message"]
    id: str = Field(pattern=ID_PATTERN, description="Chosen by the client; every event of this turn carries it.")
    text: str = Field(min_length=1)
    thread_id: str | None = Field(None, pattern=ID_PATTERN, description="Conversation to continue; omitted = new.")
    path: RequestedPath = "auto"
    members: list[str] | None = Field(
        None,
        min_length=1,
        max_length=16,
        description="Council members (roles) to ask on the council path, in configured order; omitted = all.",
    )
    review_round: bool | None = Field(
        None, strict=True, description="Members review each other's answers; omitted = the settings' default."
    )
    ranking: bool | None = Field(
        None, strict=True, description="Members rank each other's answers for the chair; omitted = the settings'."
    )


class CancelTurn(_ClientMessage):
    type: Literal["cancel"]
    id: str = Field(pattern=ID_PATTERN, description="The id of the turn to stop.")


class Ping(_ClientMessage):
    type: Literal["ping"]
    id: str | None = Field(None, pattern=ID_PATTERN)


ClientMessage = Annotated[SendMessage | CancelTurn | Ping, Field(discriminator="type")]
CLIENT_MESSAGE = TypeAdapter[SendMessage | CancelTurn | Ping](ClientMessage)
