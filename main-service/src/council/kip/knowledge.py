"""The council's long-term memory kept in KIP: notes, facts and decisions, linked to their conversation."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_TOPIC_CHARS = 200


class KnowledgeKind(StrEnum):
    NOTE = "note"  # written by an agent's note tool
    FACT = "fact"  # a knowledge item added by an operator or derived from a conversation
    DECISION = "decision"  # a council decision: question, outcome, reasoning, answered share, members


class KnowledgeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: KnowledgeKind = KnowledgeKind.FACT
    topic: str = Field(min_length=1, max_length=MAX_TOPIC_CHARS)
    content: str = Field(min_length=1, max_length=20_000)
    source: str | None = Field(None, max_length=200, description="e.g. the conversation's thread_id.")
    agent_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class KnowledgeItem(KnowledgeCreate):
    id: str
    created_at: datetime


class DecisionCreate(BaseModel):
    """A council decision as the orchestrator records it after a turn."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=20_000)
    outcome: str = Field(min_length=1, max_length=20_000)
    reasoning: str = Field("", max_length=20_000)
    answered_share: float = Field(ge=0, le=1, description="The share of the council's members that answered.")
    members: list[str] = Field(default_factory=list)
    topic: str = Field(min_length=1, max_length=MAX_TOPIC_CHARS)
    thread_id: str | None = Field(None, max_length=200)

    def as_knowledge(self) -> KnowledgeCreate:
        return KnowledgeCreate(
            kind=KnowledgeKind.DECISION,
            topic=self.topic,
            content=self.outcome,
            source=self.thread_id,
            data={
                "question": self.question,
                "reasoning": self.reasoning,
                "answered_share": self.answered_share,
                "members": self.members,
            },
        )


class KnowledgeQuery(BaseModel):
    text: str | None = Field(None, description="Case-insensitive substring of topic or content.")
    topic: str | None = None
    kind: KnowledgeKind | None = None
    source: str | None = None
    agent_id: str | None = Field(None, description="Only what this agent wrote (its notes).")
    limit: int = Field(20, ge=1, le=200)
