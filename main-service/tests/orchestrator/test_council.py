"""The council path: concurrency with the real model, and failure, timeout, review and the spoken quorum with scripted
members.

Scripted members (tests/llm/scripted.py) stand in only where the real model cannot be made to fail or hang.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest
from pydantic import Field

from council.auth import LOCAL
from council.errors import CouncilFailedError, ErrorCode
from council.llm import CouncilChatModel, ModelRegistry, Usage
from council.orchestrator import Orchestrator, open_orchestrator
from council.orchestrator.events import (
    ErrorEvent,
    Event,
    FinalEvent,
    MemberDeltaEvent,
    MemberDoneEvent,
    MemberFailedEvent,
    ReviewEvent,
    RouteEvent,
    SynthesisDeltaEvent,
)
from council.orchestrator.service import council_roles
from council.settings import Settings
from tests.llm.scripted import ScriptedChatModel
from tests.orchestrator.conftest import orchestrator_settings

pytestmark = pytest.mark.anyio


async def collect(
    orchestrator: Orchestrator, text: str, *, spoken: bool = False, members: list[str] | None = None
) -> list[Event]:
    admitted = await orchestrator.admit(text, members=members, caller=LOCAL)
    return [event async for event in orchestrator.turn(admitted, spoken=spoken)]


@pytest.fixture
def fresh_models() -> Iterator[ModelRegistry]:
    """The default pool (3 contexts) on contexts that have never seen a prompt. llama.cpp reuses a context's cached
    prompt prefix: a member landing on a context that last served its own role answers in a blink and can finish
    before another has prefilled, which says nothing about concurrency. Members answer 24 tokens, the chair 2."""
    settings = Settings(_env_file=None, llm={"max_tokens": 24}, deliberation={"roles": {"chair": {"max_tokens": 2}}})
    registry = ModelRegistry.from_settings(settings.llm, settings.deliberation.roles, council_roles(settings))
    yield registry
    for pool in registry.pools:
        pool.close()


async def test_members_generate_concurrently(fresh_models: ModelRegistry, tmp_path: Path) -> None:
    async with open_orchestrator(orchestrator_settings(tmp_path), models=fresh_models) as orchestrator:
        events = await collect(orchestrator, "/council Is tea better than coffee? Explain in detail.")

    first_token: dict[str, float] = {}
    for event in events:
        if isinstance(event, MemberDeltaEvent):
            first_token.setdefault(event.member, event.t_ms)
    done = {e.member: e.t_ms for e in events if isinstance(e, MemberDoneEvent)}
    assert set(first_token) == set(done) == {"analytical", "creative", "critical"}
    # Generation overlapped: every member had decoded its first token before any member finished. `member.start`
    # cannot prove it (it is emitted before a llama.cpp context is checked out, so a pool of one context passes a
    # starts-before-dones check); a token can only come from a context. Verified: with `pool_size: 1` here this
    # assertion fails (each member's first token comes after the previous member's `member.done`).
    assert max(first_token.values()) < min(done.values())
    # Hence the council's generation wall time is well below the sum of the members' generation times.
    wall = max(done.values()) - min(first_token.values())
    total = sum(done[member] - first_token[member] for member in done)
    assert wall < 0.75 * total
    final = events[-1]
    assert isinstance(final, FinalEvent)
    assert final.path == "council"
    assert final.answer
    assert [call.phase for call in final.calls][-1] == "synthesis"
    assert all(call.output_tokens > 0 and call.input_tokens > 0 for call in final.calls)


async def test_a_turn_streams_typed_events_in_order(orchestrator: Orchestrator) -> None:
    events = await collect(orchestrator, "/fast Say hi")

    assert isinstance(events[0], RouteEvent)
    assert events[0].path == "fast"
    assert any(isinstance(e, SynthesisDeltaEvent) and e.role == "fast" for e in events)
    assert isinstance(events[-1], FinalEvent)
    assert events[-1].answer == "".join(e.text for e in events if isinstance(e, SynthesisDeltaEvent)).strip()
    assert [e.t_ms for e in events] == sorted(e.t_ms for e in events)


def scripted_registry(members: dict[str, CouncilChatModel]) -> ModelRegistry:
    chair = ScriptedChatModel(model_name="chair", tokens=["the", " synthesis"])
    return ModelRegistry({**members, "chair": chair, "fast": ScriptedChatModel(model_name="fast")})


async def test_a_failing_member_is_dropped_and_the_council_answers(tmp_path: Path) -> None:
    registry = scripted_registry(
        {
            "analytical": ScriptedChatModel(model_name="a"),
            "creative": ScriptedChatModel(model_name="c", fail_after=1),
            "critical": ScriptedChatModel(model_name="k"),
        }
    )
    async with open_orchestrator(orchestrator_settings(tmp_path), models=registry) as orchestrator:
        events = await collect(orchestrator, "/council question")

    failed = [e for e in events if isinstance(e, MemberFailedEvent)]
    assert [(e.member, e.code, e.error) for e in failed] == [("creative", "model_failed", "its model call failed")]
    # The client is told who failed and a code; the backend's exception stays in the log (it may name hosts).
    assert not [e for e in events if "scripted failure" in e.model_dump_json()]
    final = events[-1]
    assert isinstance(final, FinalEvent)
    assert final.answer == "the synthesis"
    assert {m.member: m.status for m in final.members} == {"analytical": "ok", "creative": "failed", "critical": "ok"}


async def test_a_member_past_its_timeout_is_dropped(tmp_path: Path) -> None:
    registry = scripted_registry(
        {
            "analytical": ScriptedChatModel(model_name="a"),
            "creative": ScriptedChatModel(model_name="slow", delay_s=30),  # hangs far past the 0.2 s timeout
            "critical": ScriptedChatModel(model_name="k"),
        }
    )
    settings = orchestrator_settings(tmp_path, member_timeout_s=0.2)
    async with open_orchestrator(settings, models=registry) as orchestrator:
        final = await orchestrator.answer(await orchestrator.admit("/council question", caller=LOCAL))

    assert {m.member: m.error for m in final.members if m.status == "failed"} == {"creative": "timed out after 0.2 s"}
    assert final.answer == "the synthesis"


async def test_all_members_failing_is_a_clear_error(tmp_path: Path) -> None:
    registry = scripted_registry(
        {role: ScriptedChatModel(model_name=role, fail_after=0) for role in ("analytical", "creative", "critical")}
    )
    async with open_orchestrator(orchestrator_settings(tmp_path), models=registry) as orchestrator:
        with pytest.raises(
            CouncilFailedError, match=r"Every council member failed \(analytical: its model call failed"
        ):
            await orchestrator.answer(await orchestrator.admit("/council question", caller=LOCAL))
        events = [
            event async for event in orchestrator.stream(await orchestrator.admit("/council question", caller=LOCAL))
        ]

    assert events[-1].type == "error"
    assert events[-1].code == "council_failed"  # type: ignore[union-attr]


async def test_review_round_shows_each_member_the_others_answers(tmp_path: Path) -> None:
    registry = scripted_registry(
        {role: ScriptedChatModel(model_name=role, tokens=[role, " view"]) for role in ("analytical", "critical")}
    )
    settings = orchestrator_settings(tmp_path, members=["analytical", "critical"], review_round=True)
    async with open_orchestrator(settings, models=registry) as orchestrator:
        events = await collect(orchestrator, "/council question")

    (review,) = [e for e in events if isinstance(e, ReviewEvent)]
    assert review.members == ["analytical", "critical"]
    phases = [(e.member, e.phase) for e in events if isinstance(e, MemberDoneEvent)]
    assert sorted(phases) == [
        ("analytical", "answer"),
        ("analytical", "review"),
        ("critical", "answer"),
        ("critical", "review"),
    ]
    final = events[-1]
    assert isinstance(final, FinalEvent)
    assert all(m.review for m in final.members)
    assert [call.phase for call in final.calls].count("review") == 2

    # The reviewer saw the other member's answer, labelled by letter only: never the member's name.
    analytical = registry.get("analytical")
    assert isinstance(analytical, ScriptedChatModel)
    review_prompt = analytical.prompts[-1][-1]["content"]
    assert "Answer A:\ncritical view" in review_prompt
    assert "Your answer:\nanalytical view" in review_prompt
    assert "critical" not in review_prompt.replace("critical view", "")
    chair = registry.get("chair")
    assert isinstance(chair, ScriptedChatModel)
    assert "critical view" in chair.prompts[-1][-1]["content"]


async def test_a_spoken_council_turn_asks_for_brief_speech_and_caps_the_members(tmp_path: Path) -> None:
    long_answer = [f" word{i}" for i in range(40)]
    members = {role: ScriptedChatModel(model_name=role, tokens=long_answer) for role in ("analytical", "creative")}
    registry = scripted_registry(dict(members))
    settings = orchestrator_settings(tmp_path, spoken_member_max_tokens=5)
    async with open_orchestrator(settings, models=registry) as orchestrator:
        spoken = await collect(orchestrator, "/council question", spoken=True, members=["analytical", "creative"])
        written = await collect(orchestrator, "/council question", members=["analytical", "creative"])
        await collect(orchestrator, "/fast question", spoken=True)

    def member_words(events: list[Event]) -> dict[str, int]:
        return {e.member: len(e.text.split()) for e in events if isinstance(e, MemberDoneEvent)}

    assert member_words(spoken) == {"analytical": 5, "creative": 5}
    assert member_words(written) == {"analytical": 40, "creative": 40}
    chair = registry.get("chair")
    assert isinstance(chair, ScriptedChatModel)
    spoken_prompt, written_prompt = (prompt[0]["content"] for prompt in chair.prompts)
    assert "spoken aloud" in spoken_prompt
    assert "spoken aloud" not in written_prompt
    assert all("spoken aloud" in model.prompts[0][0]["content"] for model in members.values())
    fast = registry.get("fast")
    assert isinstance(fast, ScriptedChatModel)
    assert "spoken aloud" not in fast.prompts[0][0]["content"]  # short already; a longer prompt only adds latency


class HangingChatModel(ScriptedChatModel):
    """A member that streams its tokens, then hangs until cancelled, and records that cancellation: proof that a
    member the council stopped waiting for stops generating too."""

    cancelled: asyncio.Event = Field(default_factory=asyncio.Event)

    async def _stream_impl(
        self, messages: list[dict[str, str]], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[str | Usage]:
        for token in self.tokens:
            yield token
        try:
            await asyncio.get_running_loop().create_future()  # never done
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


def chair_saw(registry: ModelRegistry) -> str:
    chair = registry.get("chair")
    assert isinstance(chair, ScriptedChatModel)
    return chair.prompts[-1][-1]["content"]


async def test_a_spoken_council_starts_the_chair_once_the_quorum_answered(tmp_path: Path) -> None:
    hanging = HangingChatModel(model_name="hanging", tokens=["half", " said"])
    registry = scripted_registry(
        {
            "analytical": ScriptedChatModel(model_name="a", tokens=["analytical", " view"]),
            "creative": hanging,
            "critical": ScriptedChatModel(model_name="k", tokens=["critical", " view"]),
        }
    )
    # The deadline is far off: only the quorum can let the chair start.
    settings = orchestrator_settings(tmp_path, spoken_quorum=2, spoken_deadline_s=600)
    async with open_orchestrator(settings, models=registry) as orchestrator:
        with anyio.fail_after(10):
            events = await collect(orchestrator, "/council question", spoken=True)

    failed = [(e.member, e.phase, e.error) for e in events if isinstance(e, MemberFailedEvent)]
    assert failed == [("creative", "answer", "dropped: the spoken quorum answered (2 of 3) before it")]
    assert hanging.cancelled.is_set()
    final = events[-1]
    assert isinstance(final, FinalEvent)
    assert final.answer == "the synthesis"
    assert [(m.member, m.status) for m in final.members] == [
        ("analytical", "ok"),
        ("creative", "failed"),
        ("critical", "ok"),
    ]
    assert "half said" not in chair_saw(registry)  # a partial answer is no answer


async def test_a_spoken_council_past_its_deadline_starts_the_chair_with_one_answer(tmp_path: Path) -> None:
    hanging = HangingChatModel(model_name="hanging")
    registry = scripted_registry(
        {
            "analytical": ScriptedChatModel(model_name="a", tokens=["analytical", " view"]),
            "creative": hanging,
            "critical": ScriptedChatModel(model_name="k", fail_after=0),  # a failure does not count towards the quorum
        }
    )
    settings = orchestrator_settings(tmp_path, spoken_quorum=2, spoken_deadline_s=0.1)
    async with open_orchestrator(settings, models=registry) as orchestrator:
        with anyio.fail_after(10):
            final = await orchestrator.answer(await orchestrator.admit("/council question", caller=LOCAL), spoken=True)

    assert {m.member: m.error for m in final.members if m.status == "failed"} == {
        "creative": "dropped: the spoken deadline (0.1 s) passed with 1 of 3 answered",
        "critical": "its model call failed",
    }
    assert hanging.cancelled.is_set()
    assert final.answer == "the synthesis"
    assert "analytical view" in chair_saw(registry)


async def test_a_spoken_council_with_no_answer_by_its_deadline_waits_for_the_first(tmp_path: Path) -> None:
    registry = scripted_registry(
        {
            # Answers well after the deadline (two tokens of 0.3 s each): the council must not end empty-handed.
            "analytical": ScriptedChatModel(model_name="a", tokens=["analytical", " view"], delay_s=0.3),
            "creative": HangingChatModel(model_name="hanging"),
            "critical": HangingChatModel(model_name="hanging too"),
        }
    )
    settings = orchestrator_settings(tmp_path, spoken_quorum=2, spoken_deadline_s=0.05)
    async with open_orchestrator(settings, models=registry) as orchestrator:
        with anyio.fail_after(10):
            final = await orchestrator.answer(await orchestrator.admit("/council question", caller=LOCAL), spoken=True)

    assert [(m.member, m.status) for m in final.members] == [
        ("analytical", "ok"),
        ("creative", "failed"),
        ("critical", "failed"),
    ]
    assert final.members[1].error == "dropped: the spoken deadline (0.05 s) passed with 1 of 3 answered"
    assert final.answer == "the synthesis"
    assert "analytical view" in chair_saw(registry)


async def test_a_written_council_waits_for_its_slow_member(tmp_path: Path) -> None:
    registry = scripted_registry(
        {
            "analytical": ScriptedChatModel(model_name="a"),
            # Slower than the spoken deadline and answering after the spoken quorum: a written turn waits anyway.
            "creative": ScriptedChatModel(model_name="slow", tokens=["slow", " view"], delay_s=0.2),
            "critical": ScriptedChatModel(model_name="k"),
        }
    )
    settings = orchestrator_settings(tmp_path, spoken_quorum=1, spoken_deadline_s=0.01)
    async with open_orchestrator(settings, models=registry) as orchestrator:
        with anyio.fail_after(10):
            events = await collect(orchestrator, "/council question")

    assert not [e for e in events if isinstance(e, MemberFailedEvent)]
    final = events[-1]
    assert isinstance(final, FinalEvent)
    assert all(m.status == "ok" for m in final.members)
    assert "slow view" in chair_saw(registry)


async def test_a_spoken_review_round_runs_on_the_members_who_answered_in_time(tmp_path: Path) -> None:
    registry = scripted_registry(
        {
            "analytical": ScriptedChatModel(model_name="a", tokens=["analytical", " view"]),
            "creative": HangingChatModel(model_name="hanging"),
            "critical": ScriptedChatModel(model_name="k", tokens=["critical", " view"]),
        }
    )
    settings = orchestrator_settings(tmp_path, spoken_quorum=2, spoken_deadline_s=600, review_round=True)
    async with open_orchestrator(settings, models=registry) as orchestrator:
        with anyio.fail_after(10):
            events = await collect(orchestrator, "/council question", spoken=True)

    (review,) = [e for e in events if isinstance(e, ReviewEvent)]
    assert review.members == ["analytical", "critical"]
    final = events[-1]
    assert isinstance(final, FinalEvent)
    assert [m.review is not None for m in final.members] == [True, False, True]


async def test_a_cancelled_council_turn_cancels_its_members(tmp_path: Path) -> None:
    hanging = HangingChatModel(model_name="hanging", tokens=["half"])
    registry = scripted_registry({"analytical": ScriptedChatModel(model_name="a"), "creative": hanging})
    settings = orchestrator_settings(tmp_path, members=["analytical", "creative"])
    async with open_orchestrator(settings, models=registry) as orchestrator:
        with anyio.fail_after(10):
            async with contextlib.aclosing(
                orchestrator.stream(await orchestrator.admit("/council question", caller=LOCAL))
            ) as events:
                async for event in events:
                    if isinstance(event, MemberDeltaEvent) and event.member == "creative":
                        break
            await hanging.cancelled.wait()  # the member's stream was cancelled, not left hanging in a stray task


async def test_a_chair_past_its_timeout_ends_the_turn_with_an_error_event(tmp_path: Path) -> None:
    # Before: the chair had no timeout, and a stalled chair held the turn (and its thread) as long as it stalled.
    stalled = ScriptedChatModel(model_name="stalled", delay_s=30)
    registry = ModelRegistry(
        {"analytical": ScriptedChatModel(model_name="a"), "chair": stalled, "fast": ScriptedChatModel(model_name="f")}
    )
    settings = orchestrator_settings(tmp_path, members=["analytical"], member_timeout_s=0.2)
    async with open_orchestrator(settings, models=registry) as orchestrator, asyncio.timeout(10):
        events = [e async for e in orchestrator.stream(await orchestrator.admit("/council question", caller=LOCAL))]

    error = events[-1]
    assert isinstance(error, ErrorEvent)
    assert error.code == ErrorCode.MODEL_UNAVAILABLE
    assert "chair did not finish its answer within 0.2 s" in error.message
