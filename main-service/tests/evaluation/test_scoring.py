"""An item passes only when every check passes, and its score keeps every check's outcome."""

import json
from pathlib import Path

import pytest

from council.evaluation import Question, load_questions, score


@pytest.fixture
def question(tmp_path: Path) -> Question:
    path = tmp_path / "one.jsonl"
    checks = [{"type": "number", "value": 42}, {"type": "max_words", "value": 5}, {"type": "lowercase"}]
    path.write_text(json.dumps({"id": "six-sevens", "prompt": "6 * 7?", "checks": checks}) + "\n")
    return load_questions(path)[0]


def test_item_passes_when_every_check_passes(question: Question) -> None:
    result = score(question, "answer: 42")
    assert result.passed
    assert result.failures == ()
    assert result.question_id == "six-sevens"


def test_one_failing_check_fails_the_item_and_every_outcome_is_kept(question: Question) -> None:
    result = score(question, "The answer is forty-two, not 41")
    assert not result.passed
    assert [outcome.passed for outcome in result.outcomes] == [False, False, False]
    assert [outcome.check for outcome in result.failures] == ["number 42", "max_words 5", "lowercase"]
    assert result.failures[0].detail == "found 41"


def test_only_the_failing_checks_are_failures(question: Question) -> None:
    result = score(question, "Answer: 42")
    assert not result.passed
    assert [outcome.check for outcome in result.failures] == ["lowercase"]
