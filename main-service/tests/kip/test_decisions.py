"""The decision recorder: a council turn becomes a decision in the KIP store, whatever the question looks like."""

import pytest

from council.kip.conversations import MessageRole
from council.kip.decisions import DecisionRecorder
from council.kip.errors import UnknownConversationError
from council.kip.knowledge import MAX_TOPIC_CHARS, KnowledgeKind, KnowledgeQuery
from council.kip.stores.base import KipStore
from council.orchestrator.events import FinalEvent, MemberAnswer
from tests.kip.support import ManualClock

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
    assert decision.data["answered_share"] == 0.5


async def test_a_council_turn_records_its_question_and_answer_in_the_conversation_graph(
    store: KipStore, clock: ManualClock
) -> None:
    recorder = DecisionRecorder(store)
    await recorder.turn_completed(council_turn("Use both."), "Tabs or spaces?")
    clock.advance(seconds=1)
    await recorder.turn_completed(council_turn("Spaces."), "And in YAML?")

    graph = await store.conversation_graph("thread-9")

    assert graph.conversation.title == "Tabs or spaces?"
    assert [(m.role, m.text) for m in graph.messages] == [
        (MessageRole.USER, "Tabs or spaces?"),
        (MessageRole.COUNCIL, "Use both."),
        (MessageRole.USER, "And in YAML?"),
        (MessageRole.COUNCIL, "Spaces."),
    ]
    assert [d.data["question"] for d in graph.decisions] == ["And in YAML?", "Tabs or spaces?"]
    assert graph.messages[3].decision_ids == [graph.decisions[0].id]


async def test_fast_cached_and_threadless_turns_leave_no_conversation(store: KipStore) -> None:
    recorder = DecisionRecorder(store)
    await recorder.turn_completed(council_turn().model_copy(update={"path": "fast"}), "Hi?")
    await recorder.turn_completed(council_turn().model_copy(update={"cached": True}), "Hi?")
    with pytest.raises(UnknownConversationError):
        await store.conversation_graph("thread-9")

    await recorder.turn_completed(council_turn().model_copy(update={"thread_id": None}), "Tabs or spaces?")

    [decision] = await store.search_knowledge(KnowledgeQuery(kind=KnowledgeKind.DECISION))
    assert decision.source is None
