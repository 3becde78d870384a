"""Runs questions through the product's own orchestrator, one configuration after another, and scores each answer."""

import contextlib
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from council.auth import LOCAL
from council.errors import CouncilError
from council.evaluation.errors import ConfigurationChoiceError
from council.evaluation.questions import Question
from council.evaluation.scoring import score
from council.evaluation.self_moa import SAMPLE_TEMPERATURE, equal_budget, self_moa_models, self_moa_settings
from council.orchestrator import CHAIR, Orchestrator, open_orchestrator
from council.settings import Settings


@dataclass(frozen=True)
class Configuration:
    """One way of answering: a single member on the fast path; the council, with its review round or its peer
    ranking as the turn's options, or as a spoken turn; or self-MoA, the `role`'s model sampled `samples` times and
    synthesized by itself."""

    name: str
    path: Literal["fast", "council"]
    role: str | None = None
    review_round: bool = False
    ranking: bool = False
    spoken_tokens: int | None = None
    """A spoken turn (a voice session's) with the members' answers capped at this many tokens; None: a written turn."""
    samples: int = 0
    """Self-MoA's k (0: not self-MoA)."""
    note: str = ""
    """How the configuration was set up in this run (self-MoA: how k was chosen), for the report."""
    models: tuple[str, ...] = ()
    """The models that answered, as the run loaded them: the member's; or each council member's, then the chair's
    (so a mixed council is visible in the report)."""


@dataclass(frozen=True)
class ItemRun:
    """One question answered by one configuration: the verdict, why it failed, what it cost."""

    question_id: str
    category: str | None
    passed: bool
    failures: tuple[str, ...]
    output_tokens: int
    wall_s: float
    answer: str
    synthesis_tokens: int = 0
    """The part of `output_tokens` the chair wrote (0 off the council path)."""
    ballots: int = 0
    """The peer ranking's ballots (0 when it did not run)."""
    ballots_read: int = 0
    """The ballots whose ranking could be read (the others were counted as unreadable)."""
    members_heard: int = 0
    """The members whose answers reached the chair (a spoken turn's quorum or deadline drops the late ones)."""


@dataclass(frozen=True)
class ConfigurationRun:
    configuration: Configuration
    items: tuple[ItemRun, ...]


Progress = Callable[[Configuration, int, int, int], None]
"""Called after every item with the configuration, items done, items in all, items passed so far."""


SPOKEN_LEVER_TOKENS = 96
"""The members' spoken budget before issue 25 (three times the default), run beside the settings' own."""
SELF_MOA = "self-moa"
"""Selects self-MoA, whose full name (`self-moa:<role>`) depends on the run's best member."""


def configurations(settings: Settings) -> list[Configuration]:
    """Each council member alone, then the council plain, with its review round, with its peer ranking, and as a
    spoken turn with the settings' budget for the members and with `SPOKEN_LEVER_TOKENS`. Self-MoA comes last, set
    up from these runs' figures (`self_moa`)."""
    deliberation = settings.deliberation
    members = [Configuration(f"member:{member}", "fast", role=member) for member in deliberation.members]
    chair_starts = (
        f"the chair starts after {min(deliberation.spoken_quorum, len(deliberation.members))} of "
        f"{len(deliberation.members)} members or {deliberation.spoken_deadline_s:g} s"
    )
    budgets = {
        "council-spoken": deliberation.spoken_member_max_tokens,
        f"council-spoken-{SPOKEN_LEVER_TOKENS}": SPOKEN_LEVER_TOKENS,
    }
    spoken = [
        Configuration(
            name,
            "council",
            spoken_tokens=tokens,
            note=f"spoken turn: members capped at {tokens} tokens, {chair_starts}",
        )
        for name, tokens in budgets.items()
    ]
    return [
        *members,
        Configuration("council", "council"),
        Configuration("council+review", "council", review_round=True),
        Configuration("council+ranking", "council", ranking=True),
        *spoken,
    ]


def selected(settings: Settings, names: Collection[str] | None) -> tuple[list[Configuration], bool]:
    """The configurations named (every one when None), in `configurations`' order, and whether self-MoA runs after
    them; a name that does not exist, or self-MoA without the runs it is set up from, is refused before anything
    loads."""
    every = configurations(settings)
    if names is None:
        return every, True
    known = [configuration.name for configuration in every] + [SELF_MOA]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ConfigurationChoiceError(f"unknown configuration {', '.join(unknown)}; choose from {', '.join(known)}")
    chosen = [configuration for configuration in every if configuration.name in names]
    with_moa = SELF_MOA in names
    if with_moa and ("council" not in names or not any(c.path == "fast" for c in chosen)):
        raise ConfigurationChoiceError(f"{SELF_MOA} is set up from the council's and the members' runs: choose "
                                       "council and at least one member:<role> with it")  # fmt: skip
    return chosen, with_moa


def best_member(runs: Sequence[ConfigurationRun]) -> ConfigurationRun | None:
    """The single member with the highest pass rate here (the first on a tie); None when no member ran."""
    members = [run for run in runs if run.configuration.path == "fast"]
    return max(members, key=lambda run: sum(item.passed for item in run.items), default=None)


def self_moa(runs: Sequence[ConfigurationRun]) -> Configuration | None:
    """Self-MoA of the best member of these runs, with k samples so that it generates about the tokens the plain
    council did (`self_moa.equal_budget`); None without a member and a council run."""
    best = best_member(runs)
    council = next((run for run in runs if run.configuration.name == "council"), None)
    if best is None or best.configuration.role is None or council is None or not council.items:
        return None
    budget = equal_budget(
        council_tokens=statistics.fmean(item.output_tokens for item in council.items),
        chair_tokens=statistics.fmean(item.synthesis_tokens for item in council.items),
        member_tokens=statistics.fmean(item.output_tokens for item in best.items),
    )
    role = best.configuration.role
    return Configuration(
        f"self-moa:{role}", "council", role=role, samples=budget.samples, note=f"best member {role}; {budget.explain()}"
    )


def evaluation_settings(settings: Settings, *, temperature: float, seed: int | None, memory_dir: Path) -> Settings:
    """The user's settings with a fixed temperature and seed; conversations go to a scratch directory (evaluation
    turns are stateless, but the orchestrator opens its checkpointer anyway). The review round and the ranking are
    each turn's options, so the settings' defaults do not matter here."""
    return settings.model_copy(
        update={
            "llm": settings.llm.model_copy(update={"temperature": temperature, "seed": seed}),
            "memory": settings.memory.model_copy(update={"backend": "sqlite", "data_dir": memory_dir}),
        }
    )


async def run_evaluation(
    settings: Settings,
    questions: Sequence[Question],
    *,
    only: Collection[str] | None = None,
    temperature: float = 0.0,
    seed: int | None = 0,
    sample_temperature: float = SAMPLE_TEMPERATURE,
    progress: Progress | None = None,
) -> list[ConfigurationRun]:
    """Every configuration (or those named in `only`, `selected`) over every question, in order, on models loaded
    once; then self-MoA of the best member (its samples at `sample_temperature`, each with a seed of its own), on the
    same loaded models."""
    chosen, with_moa = selected(settings, only)
    runs: list[ConfigurationRun] = []
    with tempfile.TemporaryDirectory(prefix="council-eval-") as scratch:
        turn_settings = evaluation_settings(settings, temperature=temperature, seed=seed, memory_dir=Path(scratch))
        async with open_orchestrator(turn_settings) as orchestrator:
            for configuration in chosen:
                async with _answering(orchestrator, turn_settings, configuration, Path(scratch)) as answering:
                    configuration = replace(configuration, models=_models(answering, configuration))
                    runs.append(await run_configuration(answering, configuration, questions, progress))
            moa = self_moa(runs) if with_moa else None
            if moa is not None and moa.role is not None:
                models = self_moa_models(
                    orchestrator.models, moa.role, moa.samples, temperature=sample_temperature, seed=seed
                )
                moa_settings = self_moa_settings(
                    turn_settings,
                    prompt=orchestrator.context.prompts[moa.role],
                    samples=moa.samples,
                    memory_dir=Path(scratch) / "self-moa",
                )
                async with open_orchestrator(moa_settings, models=models) as moa_orchestrator:
                    moa = replace(moa, models=_models(moa_orchestrator, moa))
                    runs.append(await run_configuration(moa_orchestrator, moa, questions, progress))
    return runs


@contextlib.asynccontextmanager
async def _answering(
    orchestrator: Orchestrator, settings: Settings, configuration: Configuration, scratch: Path
) -> AsyncIterator[Orchestrator]:
    """The orchestrator that answers the configuration: the run's own; for a spoken one, one whose members' spoken
    budget is the configuration's (a setting of the orchestrator, not a turn option), on the same loaded models."""
    if configuration.spoken_tokens is None:
        yield orchestrator
        return
    deliberation = settings.deliberation.model_copy(update={"spoken_member_max_tokens": configuration.spoken_tokens})
    memory = settings.memory.model_copy(update={"data_dir": scratch / configuration.name})
    spoken = settings.model_copy(update={"deliberation": deliberation, "memory": memory})
    async with open_orchestrator(spoken, models=orchestrator.models) as answering:
        yield answering


def _models(orchestrator: Orchestrator, configuration: Configuration) -> tuple[str, ...]:
    if configuration.path == "fast" and configuration.role is not None:
        roles = [configuration.role]
    else:
        roles = [*orchestrator.context.members, CHAIR]
    return tuple(orchestrator.models.get(role).model_name for role in roles)


async def run_configuration(
    orchestrator: Orchestrator,
    configuration: Configuration,
    questions: Sequence[Question],
    progress: Progress | None = None,
) -> ConfigurationRun:
    items: list[ItemRun] = []
    for question in questions:
        items.append(await _answer(orchestrator, configuration, question))
        if progress is not None:
            progress(configuration, len(items), len(questions), sum(item.passed for item in items))
    return ConfigurationRun(configuration, tuple(items))


async def _answer(orchestrator: Orchestrator, configuration: Configuration, question: Question) -> ItemRun:
    started = time.perf_counter()
    try:
        # A stateless turn (history=[]): every question stands alone, nothing is remembered between items.
        admitted = await orchestrator.admit(
            question.prompt,
            configuration.path,
            configuration.role if configuration.path == "fast" else None,
            caller=LOCAL,
            history=[],
            review_round=configuration.review_round,
            ranking=configuration.ranking,
        )
        final = await orchestrator.answer(admitted, spoken=configuration.spoken_tokens is not None)
    except CouncilError as error:  # a backend that fails an item fails that item, not the run
        wall_s = time.perf_counter() - started
        return ItemRun(question.id, question.category, False, (f"turn failed: {error.message}",), 0, wall_s, "")
    wall_s = time.perf_counter() - started
    result = score(question, final.answer)
    failures = tuple(f"{outcome.check}: {outcome.detail}" for outcome in result.failures)
    output_tokens = sum(call.output_tokens for call in final.calls)
    synthesis_tokens = sum(call.output_tokens for call in final.calls if call.phase == "synthesis")
    ballots = len(final.ranking.ballots) if final.ranking else 0
    unreadable = final.ranking.unreadable if final.ranking else 0
    return ItemRun(
        question.id,
        question.category,
        result.passed,
        failures,
        output_tokens,
        wall_s,
        final.answer,
        synthesis_tokens,
        ballots,
        ballots - unreadable,
        sum(call.phase == "answer" for call in final.calls),
    )
