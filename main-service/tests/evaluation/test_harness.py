"""The harness runs real turns through the orchestrator on the bundled model, one configuration after another."""

import json
from pathlib import Path

import pytest

from council.evaluation import Question, load_questions, score
from council.evaluation.harness import configurations, run_evaluation
from council.settings import Settings

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


def test_configurations_are_each_member_then_the_council_without_and_with_review() -> None:
    settings = Settings(_env_file=None, deliberation={"members": ["analytical", "critical"]})
    assert [c.name for c in configurations(settings)] == [
        "member:analytical",
        "member:critical",
        "council",
        "council+review",
    ]


@pytest.mark.anyio
async def test_every_configuration_answers_and_is_scored(question: Question, tmp_path: Path) -> None:
    settings = Settings(_env_file=None, llm={"max_tokens": MAX_TOKENS}, memory={"data_dir": tmp_path / "memory"})
    seen: list[tuple[str, int, int]] = []
    runs = await run_evaluation(
        settings, [question], progress=lambda c, done, total, _: seen.append((c.name, done, total))
    )
    names = ["member:analytical", "member:creative", "member:critical", "council", "council+review"]
    assert [run.configuration.name for run in runs] == names
    assert seen == [(name, 1, 1) for name in names]
    # model calls per turn: one for a member alone; three members and the chair; and three reviews on top
    calls = {"council": 4, "council+review": 7}
    for run in runs:
        (item,) = run.items
        assert item.question_id == "capital"
        assert item.passed == score(question, item.answer).passed
        assert len(item.failures) == len(score(question, item.answer).failures)
        assert 0 < item.output_tokens <= calls.get(run.configuration.name, 1) * MAX_TOKENS
        assert item.wall_s > 0
