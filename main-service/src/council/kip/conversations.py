"""The conversations behind council decisions, as a graph: conversation -> messages -> decisions, and knowledge."""

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from council.kip.knowledge import DecisionCreate, KnowledgeItem, KnowledgeKind

MAX_THREAD_ID_CHARS = 200
MAX_TITLE_CHARS = 200
MAX_MESSAGE_CHARS = 20_000
"""A message longer than this is kept cut, with `truncated: true` (the full text stays in conversation memory)."""


class MessageRole(StrEnum):
    USER = "user"  # the question as the user asked it
    COUNCIL = "council"  # the council's synthesized answer


def title_of(question: str) -> str:
    """A conversation's title: its first question on one line, cut to what a title holds."""
    return " ".join(question.split())[:MAX_TITLE_CHARS] or "untitled"


class ExchangeCreate(BaseModel):
    """One council turn as the decision recorder observes it: the question, the answer and the decision made."""

    model_config = ConfigDict(extra="forbid")

    thread_id: str = Field(min_length=1, max_length=MAX_THREAD_ID_CHARS)
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    decision: DecisionCreate

    def message(self, role: MessageRole) -> tuple[str, bool]:
        """The text a message keeps and whether it was cut to MAX_MESSAGE_CHARS."""
        text = self.question if role is MessageRole.USER else self.answer
        return text[:MAX_MESSAGE_CHARS], len(text) > MAX_MESSAGE_CHARS

    def messages(
        self, *, ids: tuple[str, str], first_position: int, created_at: datetime, decision_id: str
    ) -> list["Message"]:
        """The exchange's two messages, question then answer, from `first_position` on; the answer made the decision."""
        made = []
        for offset, (message_id, role) in enumerate(zip(ids, (MessageRole.USER, MessageRole.COUNCIL), strict=True)):
            text, truncated = self.message(role)
            made.append(
                Message(
                    id=message_id,
                    thread_id=self.thread_id,
                    position=first_position + offset,
                    role=role,
                    text=text,
                    truncated=truncated,
                    created_at=created_at,
                )
            )
        made[-1].decision_ids.append(decision_id)
        return made

    def decision_knowledge(self) -> DecisionCreate:
        """The decision, derived from this exchange's conversation whatever thread it named."""
        return self.decision.model_copy(update={"thread_id": self.thread_id})


class Conversation(BaseModel):
    thread_id: str
    title: str = Field(description="The first recorded question, on one line.")
    message_count: int
    created_at: datetime
    updated_at: datetime


class Message(BaseModel):
    id: str
    thread_id: str
    position: int = Field(description="0, 1, 2… in the order the conversation's messages were recorded.")
    role: MessageRole
    text: str
    truncated: bool = Field(description=f"The text was longer than {MAX_MESSAGE_CHARS} characters and is cut.")
    created_at: datetime
    decision_ids: list[str] = Field(default_factory=list, description="Decisions this message made (`decided`).")


class RecordedExchange(BaseModel):
    conversation: Conversation
    messages: list[Message]
    decision: KnowledgeItem


class GraphEdge(BaseModel):
    type: Literal["has_message", "decided", "derived_from", "wrote"]
    source: str
    target: str


class ConversationGraph(BaseModel):
    """A conversation with its messages (oldest first), its decisions and the rest of the knowledge derived from it
    (both newest first), and the edges between them."""

    conversation: Conversation
    messages: list[Message]
    decisions: list[KnowledgeItem]
    knowledge: list[KnowledgeItem] = Field(description="Notes and facts whose source is this conversation.")

    @classmethod
    def assemble(
        cls, conversation: Conversation, messages: list[Message], derived: list[KnowledgeItem]
    ) -> "ConversationGraph":
        derived = sorted(sorted(derived, key=lambda item: item.id), key=lambda item: item.created_at, reverse=True)
        return cls(
            conversation=conversation,
            messages=sorted(messages, key=lambda message: message.position),
            decisions=[item for item in derived if item.kind is KnowledgeKind.DECISION],
            knowledge=[item for item in derived if item.kind is not KnowledgeKind.DECISION],
        )

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented way to serialize a property
    @property
    def edges(self) -> list[GraphEdge]:
        thread = self.conversation.thread_id
        edges = [GraphEdge(type="has_message", source=thread, target=m.id) for m in self.messages]
        edges += [GraphEdge(type="decided", source=m.id, target=d) for m in self.messages for d in m.decision_ids]
        edges += [GraphEdge(type="derived_from", source=k.id, target=thread) for k in self.decisions + self.knowledge]
        edges += [GraphEdge(type="wrote", source=k.agent_id, target=k.id) for k in self.knowledge if k.agent_id]
        return edges
