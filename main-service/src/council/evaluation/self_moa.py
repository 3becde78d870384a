"""Self-MoA at an equal token budget: one model sampled k times, its samples synthesized by the same model.

It runs through the product's own orchestrator: a council whose k members are the one model under other names
(each sampling with a seed of its own), chaired by that same model. No model is loaded again: the members share
the loaded model (its llama.cpp pool, or its HTTP client).
"""

from dataclasses import dataclass
from pathlib import Path

from council.llm import ModelRegistry
from council.settings import RoleSettings, Settings

MIN_SAMPLES = 2
"""Fewer than two samples is the member alone, not a mixture."""
MAX_SAMPLES = 8
"""A cap on the run's time when the member's answers are very short next to the council's."""
SAMPLE_TEMPERATURE = 0.7
"""Samples at temperature 0 would be one answer k times; self-MoA needs them to differ."""


@dataclass(frozen=True)
class Budget:
    """How k was chosen: the council's mean tokens per item, the part its chair wrote, and the member's alone."""

    council_tokens: float
    chair_tokens: float
    member_tokens: float
    samples: int

    def explain(self) -> str:
        exact = (self.council_tokens - self.chair_tokens) / self.member_tokens if self.member_tokens else 0.0
        return (
            f"k = {self.samples}: (council {self.council_tokens:.1f} tokens per item - its chair's "
            f"{self.chair_tokens:.1f}) / the member alone {self.member_tokens:.1f} = {exact:.2f}, rounded, "
            f"within {MIN_SAMPLES}-{MAX_SAMPLES}"
        )


def equal_budget(council_tokens: float, chair_tokens: float, member_tokens: float) -> Budget:
    """k such that k samples of the member (its mean tokens per answer, measured alone in this run) plus a
    synthesis generate about what the council generated: the council's members' share (its tokens minus its
    chair's) over the member's; the synthesis is taken to cost what the council's chair did."""
    exact = (council_tokens - chair_tokens) / member_tokens if member_tokens > 0 else MIN_SAMPLES
    samples = min(MAX_SAMPLES, max(MIN_SAMPLES, round(exact)))
    return Budget(council_tokens, chair_tokens, member_tokens, samples)


def sample_roles(samples: int) -> list[str]:
    return [f"sample-{index}" for index in range(1, samples + 1)]


def self_moa_models(
    models: ModelRegistry, member: str, samples: int, *, temperature: float, seed: int | None
) -> ModelRegistry:
    """The member's model k times (sample i seeded `seed + i`, so a rerun repeats and the samples differ), the same
    model as chair (at the run's own settings), and as the fast role the orchestrator expects."""
    model = models.get(member)
    sampled = {
        role: model.model_copy(update={"temperature": temperature, "seed": None if seed is None else seed + index})
        for index, role in enumerate(sample_roles(samples))
    }
    return ModelRegistry({**sampled, "chair": model, "fast": model})


def self_moa_settings(settings: Settings, *, prompt: str, samples: int, memory_dir: Path) -> Settings:
    """The evaluation's settings with the k samples as the council's members, each with the member's own prompt."""
    roles = sample_roles(samples)
    deliberation = settings.deliberation.model_copy(
        update={
            "members": roles,
            "roles": {**settings.deliberation.roles, **{role: RoleSettings(system_prompt=prompt) for role in roles}},
            "review_round": False,
            "ranking": False,
        }
    )
    memory = settings.memory.model_copy(update={"data_dir": memory_dir})
    return settings.model_copy(update={"deliberation": deliberation, "memory": memory})
