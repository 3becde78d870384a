"""The decision recorder: a council turn becomes a decision in the KIP store, whatever the question looks like."""

import pytest

from council.kip.decisions import DecisionRecorder
from council.kip.knowledge import MAX_TOPIC_CHARS, KnowledgeKind, KnowledgeQuery
from council.kip.stores.base import KipStore
from council.orchestrator.events import FinalEvent, MemberAnswer

pytestmark = pytest.mark.anyio


def council_turn(answer: str = "Use both.") -> FinalEvent:
    return FinalEvent(
        t_ms=1.0,
        thread_id="thread-9",
        path="council",
        reason="explicit command '/council'",
        answer=answer,
        members=[
            MemberAnswer(member="analytical", status="ok", answer="Tabs. They are smaller."),
            MemberAnswer(member="creative", status="failed", error="timed out after 1 s"),
        ],
        calls=[],
        total_ms=1.0,
    )


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("Should we adopt tabs or spaces?", "adopt"),
        ("x" * 250 + " or spaces?", "x" * MAX_TOPIC_CHARS),  # a pasted blob as the first content word
        ("https://example.org/" + "a" * 300 + " is it safe?", "https"),
        ("Is it?", "general"),  # no content word at all
    ],
)
async def test_a_council_turn_is_recorded_with_a_topic_that_fits(store: KipStore, question: str, topic: str) -> None:
    await DecisionRecorder(store).turn_completed(council_turn(), question)

    [decision] = await store.search_knowledge(KnowledgeQuery(kind=KnowledgeKind.DECISION, source="thread-9"))
    assert decision.topic == topic
    assert decision.content == "Use both."
    assert decision.data["question"] == question
    assert decision.data["members"] == ["analytical"]
    assert decision.data["confidence"] == 0.5
