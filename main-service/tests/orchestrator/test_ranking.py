"""The peer ranking: the ballot parser and the aggregate (pure), and the stage through the orchestrator with scripted
members that judge the answers they are shown."""

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from council.auth import LOCAL
from council.llm import Usage
from council.orchestrator import open_orchestrator
from council.orchestrator.events import (
    Ballot,
    BallotEvent,
    Event,
    FinalEvent,
    MemberDoneEvent,
    MemberStartEvent,
    RankingDoneEvent,
    RankingEvent,
    ReviewEvent,
    SynthesisDeltaEvent,
)
from council.orchestrator.prompts import RANKING_PROMPT
from council.orchestrator.ranking import aggregate, ballot_labels, parse_ranking, ranker_rng
from tests.llm.scripted import ScriptedChatModel
from tests.orchestrator.conftest import orchestrator_settings
from tests.orchestrator.test_council import scripted_registry

AB = ["A", "B"]
ABC = ["A", "B", "C"]


@pytest.mark.parametrize(
    ("text", "labels", "order"),
    [
        ("FINAL RANKING: B, A", AB, ("B", "A")),
        ("final ranking: answer b, answer a", AB, ("B", "A")),
        ("Answer B is clearer.\nFINAL RANKING: Answer B, Answer A", AB, ("B", "A")),
        ("**FINAL RANKING:** B > C > A", ABC, ("B", "C", "A")),
        ("FINAL RANKING:\n1. Answer C\n2. Answer A\n3. Answer B", ABC, ("C", "A", "B")),
        ("Ranking: C, B, A", ABC, ("C", "B", "A")),
        ("1. Answer B - the most precise\n2. Answer A - vague", AB, ("B", "A")),
        ("2) A\n1) B", AB, ("B", "A")),  # a numbered list is read by its numbers
        ("B, A", AB, ("B", "A")),
        ("B", ["B"], ("B",)),
        ("FINAL RANKING: A, A, B", AB, ("A", "B")),  # a repeated label keeps its first place
        ("FINAL RANKING: B, C, A", AB, ("B", "A")),  # a letter not on the ballot is ignored
        ("FINAL RANKING: A, B\nOn reflection:\nFINAL RANKING: B, A", AB, ("B", "A")),  # the last ranking line wins
        ("FINAL RANKING: ...\n\nFINAL RANKING: A, B", AB, ("A", "B")),
    ],
)
def test_a_ranking_is_read_from_every_accepted_form(text: str, labels: list[str], order: tuple[str, ...]) -> None:
    parsed = parse_ranking(text, labels)
    assert parsed.order == order
    assert parsed.problem is None


@pytest.mark.parametrize(
    ("text", "labels", "problem"),
    [
        ("Both answers are good.", AB, "no ranking found"),
        ("", AB, "no ranking found"),
        ("I prefer the second one because it is a better answer.", AB, "no ranking found"),
        ("FINAL RANKING: B", AB, "incomplete ranking B: A not ranked"),
        ("FINAL RANKING: C, A", ABC, "incomplete ranking C, A: B not ranked"),
        ("1. Answer A", AB, "incomplete ranking A: B not ranked"),
        ("FINAL RANKING: D, E", AB, "no ranking found"),
    ],
)
def test_an_unreadable_ranking_is_counted_as_such_never_completed(text: str, labels: list[str], problem: str) -> None:
    parsed = parse_ranking(text, labels)
    assert parsed.order is None
    assert parsed.problem is not None
    assert parsed.problem.startswith(problem)


def test_the_aggregate_is_the_mean_place_per_answer_with_its_rankers_and_unread_ballots_counted() -> None:
    members = ["analytical", "creative", "critical"]
    ballots = [
        Ballot(ranker="analytical", labels={"A": "critical", "B": "creative"}, order=["creative", "critical"]),
        Ballot(ranker="creative", labels={"A": "analytical", "B": "critical"}, order=["analytical", "critical"]),
        Ballot(ranker="critical", labels={"A": "creative", "B": "analytical"}, order=None, problem="no ranking found"),
    ]
    ranking = aggregate(members, ballots)

    got = [(answer.member, answer.mean_rank, answer.rankers) for answer in ranking.answers]
    # analytical and creative tie at 1.0 (configured order); critical was second twice
    assert got == [("analytical", 1.0, 1), ("creative", 1.0, 1), ("critical", 2.0, 2)]
    assert ranking.unreadable == 1
    assert ranking.ballots == ballots


def test_an_answer_no_ballot_could_rank_comes_last_without_a_mean() -> None:
    ballots = [Ballot(ranker=m, labels={}, order=None, problem="x") for m in ("a", "b", "c")]
    ranking = aggregate(["a", "b", "c"], ballots)
    assert [(answer.member, answer.mean_rank, answer.rankers) for answer in ranking.answers] == [
        ("a", None, 0),
        ("b", None, 0),
        ("c", None, 0),
    ]
    assert ranking.unreadable == 3


def test_a_ballot_leaves_the_rankers_own_answer_out_and_a_seed_repeats_the_shuffle() -> None:
    members = ["a", "b", "c", "d", "e"]
    labels = ballot_labels("c", members, ranker_rng(7, "c", "q"))
    assert list(labels) == ["A", "B", "C", "D"]
    assert sorted(labels.values()) == ["a", "b", "d", "e"]
    assert labels == ballot_labels("c", members, ranker_rng(7, "c", "q"))
    orders = {tuple(ballot_labels("c", members, ranker_rng(7, "c", f"q{i}")).values()) for i in range(20)}
    assert len(orders) > 1  # shuffled, not the configured order every time


class Judge(ScriptedChatModel):
    """A member that answers with its tokens and, asked to rank, orders what it is shown by a word in each answer
    (good, then fair, then poor), or replies with `ranking_reply` when that is set."""

    ranking_reply: str | None = None

    async def _stream_impl(
        self, messages: list[dict[str, str]], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[str | Usage]:
        if messages[0]["content"] != RANKING_PROMPT:
            async for piece in super()._stream_impl(messages, max_tokens=max_tokens, temperature=temperature):
                yield piece
            return
        self.prompts.append(messages)
        shown = dict(re.findall(r"Answer ([A-Z]):\n(\w+)", messages[-1]["content"]))
        quality = ["good", "fair", "poor"]
        best_first = sorted(shown, key=lambda label: quality.index(shown[label]))
        yield self.ranking_reply if self.ranking_reply is not None else "FINAL RANKING: " + ", ".join(best_first)
        yield Usage(input_tokens=10, output_tokens=5)


def judges(critical_reply: str | None = None) -> dict[str, Judge]:
    return {
        "analytical": Judge(model_name="a", tokens=["good"]),
        "creative": Judge(model_name="c", tokens=["fair"]),
        "critical": Judge(model_name="k", tokens=["poor"], ranking_reply=critical_reply),
    }


async def collect(
    tmp_path: Path,
    members: dict[str, Judge],
    settings: dict[str, object] | None = None,
    *,
    ranking: bool | None = None,
    review_round: bool | None = None,
) -> tuple[list[Event], ScriptedChatModel]:
    """One council turn with these members (and the turn's options); its events and the chair."""
    registry = scripted_registry(dict(members))
    configured = orchestrator_settings(tmp_path, members=list(members), **(settings or {}))
    async with open_orchestrator(configured, models=registry) as orchestrator:
        events = [
            e
            async for e in orchestrator.turn(
                await orchestrator.admit("/council question", caller=LOCAL, ranking=ranking, review_round=review_round)
            )
        ]
    chair = registry.get("chair")
    assert isinstance(chair, ScriptedChatModel)
    return events, chair


@pytest.mark.anyio
async def test_each_member_ranks_the_others_anonymised_answers_and_the_chair_sees_the_aggregate(
    tmp_path: Path,
) -> None:
    members = judges()
    events, chair = await collect(tmp_path, members, ranking=True)

    kinds = [event.type for event in events]
    assert kinds.index("ranking") < kinds.index("ranking.done") < kinds.index("synthesis.delta")
    (started,) = [e for e in events if isinstance(e, RankingEvent)]
    assert started.members == ["analytical", "creative", "critical"]
    ranking_starts = [e.member for e in events if isinstance(e, MemberStartEvent) and e.phase == "ranking"]
    assert sorted(ranking_starts) == ["analytical", "creative", "critical"]
    ballots = {e.ranker: e for e in events if isinstance(e, BallotEvent)}
    assert ballots["analytical"].order == ["creative", "critical"]
    assert ballots["creative"].order == ["analytical", "critical"]
    assert ballots["critical"].order == ["analytical", "creative"]
    for ranker, ballot in ballots.items():
        assert ranker not in ballot.labels.values()  # the ranker's own answer is left out
        assert sorted(ballot.labels) == ["A", "B"]

    (done,) = [e for e in events if isinstance(e, RankingDoneEvent)]
    assert [(a.member, a.mean_rank, a.rankers) for a in done.answers] == [
        ("analytical", 1.0, 2),
        ("creative", 1.5, 2),
        ("critical", 2.0, 2),
    ]
    final = events[-1]
    assert isinstance(final, FinalEvent)
    assert final.ranking is not None
    assert final.ranking.model_dump() == done.model_dump(include={"answers", "ballots"})
    assert [call.phase for call in final.calls].count("ranking") == 3

    # The rankers saw letters and answers, never a member's name.
    for member in members.values():
        (ranking_prompt,) = [p for p in member.prompts if p[0]["content"] == RANKING_PROMPT]
        assert not {"analytical", "creative", "critical"} & set(re.findall(r"\w+", ranking_prompt[-1]["content"]))
    chair_request = chair.prompts[-1][-1]["content"]
    assert "1. Adviser 1 (analytical): mean rank 1.00 from 2 rankings" in chair_request
    assert "3. Adviser 3 (critical): mean rank 2.00 from 2 rankings" in chair_request


@pytest.mark.anyio
async def test_an_unreadable_ballot_is_counted_and_the_others_still_rank(tmp_path: Path) -> None:
    events, chair = await collect(tmp_path, judges(critical_reply="They are all lovely."), ranking=True)

    (unread,) = [e for e in events if isinstance(e, BallotEvent) and e.order is None]
    assert unread.ranker == "critical"
    assert unread.problem is not None
    assert unread.problem.startswith("no ranking found")
    final = events[-1]
    assert isinstance(final, FinalEvent)
    assert final.ranking is not None
    assert final.ranking.unreadable == 1
    assert [(a.member, a.mean_rank, a.rankers) for a in final.ranking.answers] == [
        ("analytical", 1.0, 1),
        ("creative", 1.0, 1),
        ("critical", 2.0, 2),
    ]
    assert "2. Adviser 2 (creative): mean rank 1.00 from 1 ranking\n" in chair.prompts[-1][-1]["content"]


@pytest.mark.anyio
async def test_ranking_and_review_round_are_per_turn_options_over_the_settings_defaults(tmp_path: Path) -> None:
    default, _ = await collect(tmp_path / "1", judges())
    assert not {"ranking", "review"} & {e.type for e in default}
    final = default[-1]
    assert isinstance(final, FinalEvent)
    assert final.ranking is None

    both, _ = await collect(tmp_path / "2", judges(), ranking=True, review_round=True)
    kinds = [e.type for e in both]
    assert kinds.index("review") < kinds.index("ranking") < kinds.index("ranking.done")

    # Settings turn both on; a turn turns them off again.
    off, chair = await collect(
        tmp_path / "3", judges(), settings={"ranking": True, "review_round": True}, ranking=False, review_round=False
    )
    assert not {"ranking", "review"} & {e.type for e in off}
    assert "rank" not in chair.prompts[-1][-1]["content"]
    on, _ = await collect(tmp_path / "4", judges(), settings={"ranking": True, "review_round": True})
    assert any(isinstance(e, ReviewEvent) for e in on)
    assert any(isinstance(e, RankingDoneEvent) for e in on)


@pytest.mark.anyio
async def test_the_ranking_needs_three_answers(tmp_path: Path) -> None:
    two = {name: judge for name, judge in judges().items() if name != "critical"}
    events, chair = await collect(tmp_path, two, ranking=True)
    assert not [e for e in events if e.type.startswith("ranking")]
    assert not [e for e in events if isinstance(e, MemberDoneEvent) and e.phase == "ranking"]
    assert any(isinstance(e, SynthesisDeltaEvent) for e in events)
    assert "rank" not in chair.prompts[-1][-1]["content"]


@dataclass(frozen=True)
class Kept:
    answer: str
    path: str
    age_s: float = 0.0


class MemoryCache:
    """The answer cache's contract in a dict (Pheromind's own is tested in tests/pheromind)."""

    def __init__(self) -> None:
        self.kept: dict[str, Kept] = {}

    async def cached_answer(self, question: str, *, scope: str) -> Kept | None:
        return self.kept.get(f"{scope}:{question}")

    async def store_answer(self, question: str, *, scope: str, answer: str, path: str) -> None:
        self.kept[f"{scope}:{question}"] = Kept(answer, path)


@pytest.mark.anyio
async def test_a_turn_that_chose_other_stages_neither_reads_nor_fills_the_answer_cache(tmp_path: Path) -> None:
    cache = MemoryCache()
    registry = scripted_registry(dict(judges()))
    async with open_orchestrator(orchestrator_settings(tmp_path), models=registry, cache=cache) as orchestrator:
        question = "Should I drink tea or coffee?"  # routed to the council by its cue
        ranked = await orchestrator.answer(await orchestrator.admit(question, caller=LOCAL, ranking=True))
        assert not cache.kept
        await orchestrator.answer(await orchestrator.admit(question, caller=LOCAL))
        assert cache.kept
        again = await orchestrator.answer(await orchestrator.admit(question, caller=LOCAL, ranking=True))
        plain = await orchestrator.answer(await orchestrator.admit(question, caller=LOCAL))

    assert ranked.ranking is not None
    assert not again.cached
    assert again.ranking is not None
    assert plain.cached
