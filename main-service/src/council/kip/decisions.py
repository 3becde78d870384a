"""KIP as the council's long-term memory: every council decision is recorded after its turn, with the question and
answer it came from as messages of its conversation (kip/conversations.py)."""

import re
from collections.abc import Sequence

import structlog

from council.kip.conversations import ExchangeCreate
from council.kip.knowledge import MAX_TOPIC_CHARS, DecisionCreate
from council.kip.stores.base import KipStore
from council.topics import topics
from council.turns import TurnOutcome

log = structlog.get_logger(__name__)

_FIRST_SENTENCE = re.compile(r"^(.+?[.!?])(?:\s|$)", re.DOTALL)


def _topic(message: str) -> str:
    """The question's first content word (its first topic key, as Pheromind's trails have it), cut to what a topic
    holds (a pasted URL or blob can be one long word)."""
    return (topics(message, limit=1) or ["general"])[0][:MAX_TOPIC_CHARS]


def _gist(text: str, limit: int = 240) -> str:
    match = _FIRST_SENTENCE.match(text.strip())
    sentence = (match.group(1) if match else text.strip())[:limit]
    return " ".join(sentence.split())


class DecisionRecorder:
    """A turn observer (`orchestrator.context.TurnObserver`): records council turns, not fast or cached ones; and a
    thread forgetter (`ThreadForgetter`): a deleted thread's conversation graph goes with it."""

    def __init__(self, store: KipStore) -> None:
        self.store = store

    async def turn_completed(self, final: TurnOutcome, message: str) -> None:
        if final.path != "council" or final.cached or not final.answer.strip():
            return
        answered = [member for member in final.members if member.status == "ok"]
        decision = DecisionCreate(
            question=message[:20_000] or final.answer[:200],
            outcome=final.answer[:20_000],
            reasoning=" | ".join(f"{m.member}: {_gist(m.review or m.answer)}" for m in answered)[:20_000],
            # A member dropped on failure lowers the share.
            answered_share=len(answered) / len(final.members) if final.members else 0.0,
            members=[member.member for member in answered],
            topic=_topic(message),
            thread_id=final.thread_id,
        )
        if final.thread_id is None or not message.strip():  # no conversation to tie it to: the decision alone
            item = await self.store.add_knowledge(decision.as_knowledge())
            log.info("council_decision_recorded", knowledge_id=item.id, topic=decision.topic)
            return
        exchange = ExchangeCreate(thread_id=final.thread_id, question=message, answer=final.answer, decision=decision)
        recorded = await self.store.record_exchange(exchange)
        log.info(
            "council_decision_recorded",
            knowledge_id=recorded.decision.id,
            topic=decision.topic,
            thread_id=final.thread_id,
            messages=recorded.conversation.message_count,
        )

    async def forget_thread(self, thread_id: str, *, owner: str, questions: Sequence[str]) -> None:
        if await self.store.delete_conversation(thread_id):
            log.info("conversation_graph_deleted", thread_id=thread_id)
