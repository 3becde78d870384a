"""Runs questions through the product's own orchestrator, one configuration after another, and scores each answer."""

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from council.auth import LOCAL
from council.errors import CouncilError
from council.evaluation.questions import Question
from council.evaluation.scoring import score
from council.orchestrator import Orchestrator, open_orchestrator
from council.settings import Settings


@dataclass(frozen=True)
class Configuration:
    """One way of answering: a single member on the fast path, or the council with or without its review round."""

    name: str
    path: Literal["fast", "council"]
    role: str | None = None
    review_round: bool = False


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


@dataclass(frozen=True)
class ConfigurationRun:
    configuration: Configuration
    items: tuple[ItemRun, ...]


Progress = Callable[[Configuration, int, int, int], None]
"""Called after every item with the configuration, items done, items in all, items passed so far."""


def configurations(settings: Settings) -> list[Configuration]:
    """Each council member alone, then the council without and with the review round (the stages that exist today)."""
    members = [Configuration(f"member:{member}", "fast", role=member) for member in settings.deliberation.members]
    return [
        *members,
        Configuration("council", "council"),
        Configuration("council+review", "council", review_round=True),
    ]


def evaluation_settings(
    settings: Settings, *, temperature: float, seed: int | None, review_round: bool, memory_dir: Path
) -> Settings:
    """The user's settings with a fixed temperature and seed and the review round as asked; conversations go to a
    scratch directory (evaluation turns are stateless, but the orchestrator opens its checkpointer anyway)."""
    return settings.model_copy(
        update={
            "llm": settings.llm.model_copy(update={"temperature": temperature, "seed": seed}),
            "deliberation": settings.deliberation.model_copy(update={"review_round": review_round}),
            "memory": settings.memory.model_copy(update={"backend": "sqlite", "data_dir": memory_dir}),
        }
    )


async def run_evaluation(
    settings: Settings,
    questions: Sequence[Question],
    *,
    temperature: float = 0.0,
    seed: int | None = 0,
    progress: Progress | None = None,
) -> list[ConfigurationRun]:
    """Every configuration over every question, in order; the models load once per review-round setting."""
    runs: list[ConfigurationRun] = []
    with tempfile.TemporaryDirectory(prefix="council-eval-") as scratch:
        for review_round in (False, True):
            chosen = [c for c in configurations(settings) if c.review_round == review_round]
            turn_settings = evaluation_settings(
                settings, temperature=temperature, seed=seed, review_round=review_round, memory_dir=Path(scratch)
            )
            async with open_orchestrator(turn_settings) as orchestrator:
                for configuration in chosen:
                    runs.append(await run_configuration(orchestrator, configuration, questions, progress))
    return runs


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
        final = await orchestrator.answer(
            question.prompt, history=[], requested=configuration.path, role=configuration.role, caller=LOCAL
        )
    except CouncilError as error:  # a backend that fails an item fails that item, not the run
        wall_s = time.perf_counter() - started
        return ItemRun(question.id, question.category, False, (f"turn failed: {error.message}",), 0, wall_s, "")
    wall_s = time.perf_counter() - started
    result = score(question, final.answer)
    failures = tuple(f"{outcome.check}: {outcome.detail}" for outcome in result.failures)
    output_tokens = sum(call.output_tokens for call in final.calls)
    return ItemRun(question.id, question.category, result.passed, failures, output_tokens, wall_s, final.answer)
