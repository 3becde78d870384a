"""The graph's state: the conversation (kept by the checkpointer) and this turn's working fields."""

import operator
from typing import Annotated, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

from council.orchestrator.events import MemberAnswer, ModelCall, PathName, Ranking
from council.orchestrator.smart_router import RequestedPath


class TurnState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    """The whole conversation, user and assistant turns; appended to, never rewritten."""
    owner: str
    """The caller who started the thread (`council.auth.Caller.name`); only they may continue it."""
    raw_message: str
    """This turn's message as the user sent it (commands included)."""
    requested: RequestedPath
    """The path the caller asked for (`auto` lets the router decide)."""
    role: str | None
    """A specific role to answer on the fast path (the OpenAI endpoint's `model`); None = the `fast` role."""
    message: str
    """This turn's message without its command: what the models answer."""
    asked: Annotated[list[str], operator.add]
    """What each turn of the thread asked the models (`message`), oldest first, appended by every turn's input: what
    forgetting the thread withdraws (Pheromind's trails, KIP's decisions), without routing its messages again."""
    path: PathName
    reason: str
    agent: str | None
    cached: bool
    """The answer comes from Pheromind's cache (the `cached` node), not from a model."""
    answers: list[MemberAnswer]
    """This turn's council members' answers (reset by the router every turn)."""
    ranking: Ranking | None
    """The members' peer ranking of each other's answers, when the turn asked for it (reset every turn)."""
    answer: str
    calls: list[ModelCall]
    """This turn's model calls, in completion order (reset by the router every turn)."""
