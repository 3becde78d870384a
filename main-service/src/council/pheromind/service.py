"""Pheromind as the rest of the service uses it: deposit per turn, router signal, cached answers, degradation;
opened from settings at startup. Trails and cached answers are kept per caller (`scope`: the caller's name): one
client's questions neither steer another's routing nor show in its reasons, nor make its topics hot."""

import contextlib
import json
import time
from collections.abc import AsyncIterator, Sequence

import structlog
from pydantic import BaseModel, Field

from council.health import Check, HealthStatus
from council.pheromind.patterns import TRAIL_PREFIXES, Pheromone, answer_signature, question_signature, topic_signature
from council.pheromind.stores.base import PheromoneStore, PheromoneStoreUnavailable
from council.pheromind.stores.memory import MemoryPheromoneStore
from council.pheromind.stores.redis import RedisPheromoneStore
from council.settings import PheromindSettings
from council.topics import topics

log = structlog.get_logger(__name__)


class TrailSignal(BaseModel):
    """What the router reads for a message: how often it (or its topic) came up lately."""

    signature: str
    strength: float = Field(description="Decayed strength of this exact (normalized) question's trail.")
    topic: str | None = Field(description="The message's hottest topic, if any trail carries one.")
    topic_strength: float
    hot: bool = Field(description="max(strength, topic_strength) reached the hot threshold.")
    reason: str = Field(description="One line the router can stream as its reason.")
    available: bool = Field(description="False while the store is unreachable (the signal is then neutral).")


class CachedAnswer(BaseModel):
    """An earlier answer to the identical normalized question, younger than the TTL. Mark it as cached."""

    answer: str
    path: str
    signature: str
    age_s: float
    strength: float


class Pheromind:
    def __init__(self, store: PheromoneStore, settings: PheromindSettings) -> None:
        self.store = store
        self.settings = settings
        self._down_until = 0.0  # monotonic time before which the store is not tried again
        self._degraded_reason: str | None = None

    # ---- degradation -------------------------------------------------------------------------------------
    def _usable(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, error: PheromoneStoreUnavailable) -> None:
        if self._degraded_reason is None:
            log.warning("pheromind_degraded", backend=self.store.backend, reason=str(error))
        self._degraded_reason = str(error)
        self._down_until = time.monotonic() + self.settings.retry_after_s

    def _succeeded(self) -> None:
        if self._degraded_reason is not None:
            log.info("pheromind_recovered", backend=self.store.backend)
        self._degraded_reason = None

    @property
    def degraded(self) -> bool:
        return self._degraded_reason is not None

    # ---- uses --------------------------------------------------------------------------------------------
    async def record_turn(self, question: str, *, scope: str, source: str = "chat") -> None:
        """Deposit on `scope`'s trails of the question and its topics (what the router's signal reads for it)."""
        if not self._usable():
            return
        keys = topics(question)
        amount, ttl_s = self.settings.deposit_strength, self.settings.ttl_s
        try:
            await self.store.deposit(
                question_signature(question, scope), amount=amount, ttl_s=ttl_s, source=source, topics=keys
            )
            for key in keys:
                signature = topic_signature(key, scope)
                await self.store.deposit(signature, amount=amount, ttl_s=ttl_s, source=source, topics=[key])
        except PheromoneStoreUnavailable as error:
            self._failed(error)
            return
        self._succeeded()

    async def store_answer(self, question: str, *, scope: str, answer: str, path: str) -> None:
        """Keep `answer` for `scope`'s next identical question within the TTL, when it fits the payload limit.
        The orchestrator decides which answers may be kept (only those that depend on the question alone)."""
        if not (self.settings.cache_answers and self._usable()):
            return
        payload = {"answer": answer, "path": path, "answered_at": self.store.clock()}
        if len(json.dumps(payload)) > self.settings.max_payload_bytes:
            return
        try:
            await self.store.deposit(
                answer_signature(question, scope),
                amount=self.settings.deposit_strength,
                ttl_s=self.settings.ttl_s,
                source="cache",
                payload=payload,
            )
        except PheromoneStoreUnavailable as error:
            self._failed(error)
            return
        self._succeeded()

    async def signal(self, question: str, *, scope: str) -> TrailSignal:
        """How often `scope` itself asked this question, or about its topics, lately."""
        signature = question_signature(question, scope)
        neutral = TrailSignal(
            signature=signature,
            strength=0.0,
            topic=None,
            topic_strength=0.0,
            hot=False,
            reason="Pheromind unavailable: no trail signal.",
            available=False,
        )
        if not self._usable():
            return neutral
        try:
            strength = await self.store.strength(signature)
            strengths = {key: await self.store.strength(topic_signature(key, scope)) for key in topics(question)}
        except PheromoneStoreUnavailable as error:
            self._failed(error)
            return neutral
        self._succeeded()
        topic, topic_strength = max(strengths.items(), key=lambda item: item[1], default=(None, 0.0))
        hot = max(strength, topic_strength) >= self.settings.hot_threshold
        reason = (
            f"hot trail: question strength {strength:.2f}, topic {topic!r} {topic_strength:.2f}"
            f" (threshold {self.settings.hot_threshold:g})"
            if hot
            else f"cool trail: question strength {strength:.2f}, topic strength {topic_strength:.2f}"
        )
        return TrailSignal(
            signature=signature,
            strength=strength,
            topic=topic,
            topic_strength=topic_strength,
            hot=hot,
            reason=reason,
            available=True,
        )

    # ---- the orchestrator's seams (`TrailSignals`, `AnswerCache`, `ThreadForgetter`) -----------------------
    async def strength(self, message: str, *, scope: str) -> float:
        """The router's number for `scope`: the stronger of its trail of this question and of its hottest topic."""
        signal = await self.signal(message, scope=scope)
        return max(signal.strength, signal.topic_strength)

    async def cached_answer(self, question: str, *, scope: str) -> CachedAnswer | None:
        """`scope`'s own answer to the identical question, if one younger than the TTL is kept."""
        if not (self.settings.cache_answers and self._usable()):
            return None
        try:
            pheromone = await self.store.get(answer_signature(question, scope))
        except PheromoneStoreUnavailable as error:
            self._failed(error)
            return None
        self._succeeded()
        if pheromone is None or "answer" not in pheromone.payload:
            return None
        age = self.store.clock() - float(pheromone.payload["answered_at"])
        return CachedAnswer(
            answer=str(pheromone.payload["answer"]),
            path=str(pheromone.payload["path"]),
            signature=pheromone.signature,
            age_s=age,
            strength=pheromone.strength,
        )

    async def forget_thread(self, thread_id: str, *, owner: str, questions: Sequence[str]) -> None:
        """Delete what a deleted thread's turns left (the orchestrator's `ThreadForgetter`): the answer its first turn
        may have kept for its owner (no later turn may keep one), and each of the owner's question or topic trails its
        questions alone can account for (no more deposits than they laid on it). A trail with more was reinforced by
        the owner's other threads: it names no thread and no answer, only a question's hash or one topic word, and is
        kept until it evaporates. An unreachable store deletes nothing (logged); the thread goes anyway."""
        laid: dict[str, tuple[list[str], int]] = {}
        for question in questions:
            keys = topics(question)
            trails = (question_signature(question, owner), keys), *((topic_signature(k, owner), [k]) for k in keys)
            for signature, tagged in trails:
                laid[signature] = (tagged, laid.get(signature, ([], 0))[1] + 1)
        try:
            if questions:
                await self.store.withdraw(answer_signature(questions[0], owner))
            for signature, (tagged, deposits) in laid.items():
                await self.store.withdraw(signature, topics=tagged, at_most=deposits)
        except PheromoneStoreUnavailable as error:
            self._failed(error)
            log.warning("pheromind_forget_failed", thread_id=thread_id, reason=str(error))
            return
        self._succeeded()

    async def trails(self, limit: int = 10, topic: str | None = None) -> list[Pheromone]:
        """Strongest live question and topic trails (for operators; never the cached answers); empty while
        degraded."""
        if not self._usable():
            return []
        try:
            found = await self.store.strongest(limit, topic=topic, prefixes=TRAIL_PREFIXES)
        except PheromoneStoreUnavailable as error:
            self._failed(error)
            return []
        self._succeeded()
        return found

    async def readiness_check(self) -> Check:
        observed = {"backend": self.store.backend}
        try:
            await self.store.ping()
        except PheromoneStoreUnavailable as error:
            self._failed(error)
            return Check(
                "pheromind",
                HealthStatus.WARN,
                f"degraded (no cache, no signal): {error}",
                component_type="datastore",
                critical=False,
                observed=observed,
            )
        self._succeeded()
        self._down_until = 0.0
        return Check("pheromind", HealthStatus.PASS, component_type="datastore", critical=False, observed=observed)


def build_store(settings: PheromindSettings) -> PheromoneStore:
    if settings.backend == "redis":
        return RedisPheromoneStore(
            settings.redis_url,
            key_prefix=settings.key_prefix,
            half_life_s=settings.half_life_s,
            timeout_s=settings.redis_timeout_s,
        )
    return MemoryPheromoneStore(half_life_s=settings.half_life_s)


@contextlib.asynccontextmanager
async def open_pheromind(settings: PheromindSettings) -> AsyncIterator[Pheromind]:
    """Never fails on an unreachable Redis: Pheromind starts degraded and retries on later calls."""
    pheromind = Pheromind(build_store(settings), settings)
    await pheromind.readiness_check()  # logs `pheromind_degraded` at startup when Redis is down
    try:
        yield pheromind
    finally:
        await pheromind.store.close()
