"""The peer ranking: each member ranks the others' anonymised answers; code reads the ballots and averages them."""

import asyncio
import random
import re
import statistics
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from langchain_core.messages import HumanMessage

from council.orchestrator.context import EventWriter, TurnContext
from council.orchestrator.council import final_answers, member_turn
from council.orchestrator.events import (
    Ballot,
    BallotEvent,
    MemberAnswer,
    ModelCall,
    RankedAnswer,
    Ranking,
    RankingDoneEvent,
    RankingEvent,
)
from council.orchestrator.prompts import ranking_request

MIN_ANSWERS = 3
"""A ranker leaves its own answer out, so with two answers each ballot would hold one answer: nothing to rank."""

_HEADER = re.compile(r"(?im)(?:final\s+)?ranking\s*[:\-]")
# A label: "Answer B" / "Response b", or a capital letter standing alone ("B", "B,", "(B)"; not the "A" of "Answer").
_LABEL = re.compile(r"(?<![A-Za-z0-9])(?:(?i:answer|response)\s+([A-Za-z])|([A-Z]))(?![A-Za-z0-9])")
_NUMBERED = re.compile(r"(?m)^\W*?(\d{1,2})\s*[.):]\s*(.*)$")


@dataclass(frozen=True)
class ParsedRanking:
    """The labels of one ballot in the ranker's order (best first), or why there is no ranking to read."""

    order: tuple[str, ...] | None
    problem: str | None = None


def parse_ranking(text: str, labels: Sequence[str]) -> ParsedRanking:
    """Read a ranking of `labels` from a model's free text, by the first form that holds any of them: the last
    `FINAL RANKING:` (or `Ranking:`) line with the lines under it, a numbered list (`1. Answer B`), or a reply made
    of labels only (`B > A`). Letters that are not on the ballot are ignored and a repeated label keeps its first
    place; a ranking must name every label, or the ballot is unreadable (a missing place is never guessed)."""
    found = _after_header(text, labels) or _numbered(text, labels) or _bare(text, labels)
    if not found:
        return ParsedRanking(None, "no ranking found: no FINAL RANKING line, numbered list or list of labels")
    missing = [label for label in labels if label not in found]
    if missing:
        return ParsedRanking(None, f"incomplete ranking {', '.join(found)}: {', '.join(missing)} not ranked")
    return ParsedRanking(tuple(found))


def _labels_in(text: str, labels: Sequence[str]) -> list[str]:
    seen: list[str] = []
    for match in _LABEL.finditer(text):
        label = (match[1] or match[2]).upper()
        if label in labels and label not in seen:
            seen.append(label)
    return seen


def _after_header(text: str, labels: Sequence[str]) -> list[str]:
    for header in reversed(list(_HEADER.finditer(text))):
        rest = text[header.end() :]
        line, _, below = rest.partition("\n")
        found = _labels_in(line, labels) or _labels_in(below.strip().split("\n\n")[0], labels)
        if found:
            return found
    return []


def _numbered(text: str, labels: Sequence[str]) -> list[str]:
    items = sorted(
        ((int(match[1]), found[0]) for match in _NUMBERED.finditer(text) if (found := _labels_in(match[2], labels))),
        key=lambda item: item[0],
    )
    return list(dict.fromkeys(label for _, label in items))


def _bare(text: str, labels: Sequence[str]) -> list[str]:
    if re.search(r"[A-Za-z0-9]", _LABEL.sub("", text)):
        return []  # other words around the letters: prose, not a ranking
    return _labels_in(text, labels)


def ballot_labels(ranker: str, members: Sequence[str], rng: random.Random) -> dict[str, str]:
    """The ranker's ballot: every other member's answer under a letter, in an order shuffled for this ranker."""
    others = [member for member in members if member != ranker]
    rng.shuffle(others)
    return dict(zip(string.ascii_uppercase, others, strict=False))


def aggregate(members: Sequence[str], ballots: Sequence[Ballot]) -> Ranking:
    """Mean place per answer over the readable ballots that ranked it; best first, unranked answers last, ties in
    the members' configured order."""
    places: dict[str, list[int]] = {member: [] for member in members}
    for ballot in ballots:
        for place, member in enumerate(ballot.order or (), 1):
            places[member].append(place)
    answers = [
        RankedAnswer(member=member, mean_rank=round(statistics.fmean(got), 3) if got else None, rankers=len(got))
        for member, got in places.items()
    ]
    answers.sort(key=lambda answer: (answer.mean_rank is None, answer.mean_rank or 0.0))
    return Ranking(answers=answers, ballots=list(ballots))


def ranker_rng(seed: int | None, ranker: str, question: str) -> random.Random:
    """With a seed, the same turn shuffles the same way (a repeatable evaluation); without one, fresh each turn."""
    # An order to offset position bias, not a secret: a plain PRNG is right here.
    return random.Random(f"{seed}|{ranker}|{question}") if seed is not None else random.Random()  # noqa: S311


async def rank(
    ctx: TurnContext, question: str, answers: Sequence[MemberAnswer], emit: EventWriter
) -> tuple[Ranking | None, list[ModelCall]]:
    """With the ranking on and at least three answers, every member who answered ranks the others' (reviewed)
    answers; returns the aggregate (None when the stage did not run) and the ranking calls."""
    finals = final_answers(answers)
    if not ctx.ranking or len(finals) < MIN_ANSWERS:
        return None, []
    emit(RankingEvent(t_ms=ctx.elapsed_ms(), members=list(finals)))
    calls: list[ModelCall] = []
    ballots = await asyncio.gather(
        *(_ballot(ctx, ranker, question, finals, emit, calls) for ranker in finals),
    )
    ranking = aggregate(list(finals), ballots)
    emit(RankingDoneEvent(t_ms=ctx.elapsed_ms(), **ranking.model_dump()))
    return ranking, calls


async def _ballot(
    ctx: TurnContext,
    ranker: str,
    question: str,
    finals: Mapping[str, str],
    emit: EventWriter,
    calls: list[ModelCall],
) -> Ballot:
    labels = ballot_labels(ranker, list(finals), ranker_rng(ctx.seed, ranker, question))
    request = ranking_request(question, {label: finals[member] for label, member in labels.items()})
    text, error = await member_turn(ctx, ranker, "ranking", [HumanMessage(request)], emit, calls)
    if text is None:
        ballot = Ballot(ranker=ranker, labels=labels, order=None, problem=f"the ranking call failed: {error}")
    else:
        parsed = parse_ranking(text, list(labels))
        order = None if parsed.order is None else [labels[label] for label in parsed.order]
        ballot = Ballot(ranker=ranker, labels=labels, order=order, problem=parsed.problem)
    emit(BallotEvent(t_ms=ctx.elapsed_ms(), **ballot.model_dump()))
    return ballot
