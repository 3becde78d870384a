"""Messages a client sends on `/ws/chat` (see docs/websocket.md); server messages are orchestrator events + `id`."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from council.ids import ID_PATTERN
from council.orchestrator.smart_router import RequestedPath
from council.orchestrator.turn_options import CouncilMembers, RankingChoice, ReviewRoundChoice


class _ClientMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SendMessage(_ClientMessage):
    type: Literal["message"]
    id: str = Field(pattern=ID_PATTERN, description="Chosen by the client; every event of this turn carries it.")
    text: str = Field(min_length=1)
    thread_id: str | None = Field(None, pattern=ID_PATTERN, description="Conversation to continue; omitted = new.")
    path: RequestedPath = "auto"
    members: CouncilMembers = None
    review_round: ReviewRoundChoice = None
    ranking: RankingChoice = None


class CancelTurn(_ClientMessage):
    type: Literal["cancel"]
    id: str = Field(pattern=ID_PATTERN, description="The id of the turn to stop.")


class Ping(_ClientMessage):
    type: Literal["ping"]
    id: str | None = Field(None, pattern=ID_PATTERN)


ClientMessage = Annotated[SendMessage | CancelTurn | Ping, Field(discriminator="type")]
CLIENT_MESSAGE = TypeAdapter[SendMessage | CancelTurn | Ping](ClientMessage)
