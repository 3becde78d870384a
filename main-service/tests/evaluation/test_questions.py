"""Question files load whole or are refused with the file and line; the shipped set is big enough and disjoint."""

import json
import re
from collections import Counter
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest

from council.evaluation import QuestionFileError, load_questions, shipped_questions
from council.evaluation.checks import NumberCheck
from council.evaluation.questions import Question, spread

type WriteFile = Callable[[str], Path]

GOOD = json.dumps({"id": "q1", "prompt": "What is 6 times 7?", "checks": [{"type": "number", "value": 42}]})


@pytest.fixture
def write_file(tmp_path: Path) -> WriteFile:
    """Writes a question file under the test's directory and returns its path."""

    def write(text: str) -> Path:
        path = tmp_path / "questions.jsonl"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def test_loads_items_in_order_and_skips_blank_lines(write_file: WriteFile) -> None:
    second = {"id": "q2", "prompt": "Say hi.", "category": "format", "checks": [{"type": "max_words", "value": 3}]}
    questions = load_questions(write_file(f"{GOOD}\n\n{json.dumps(second)}\n"))
    assert [question.id for question in questions] == ["q1", "q2"]
    assert questions[0].checks == (NumberCheck(Fraction(42)),)
    assert (questions[0].category, questions[1].category) == (None, "format")


def item(**fields: object) -> str:
    return json.dumps({"id": "q2", "prompt": "p", "checks": [{"type": "lowercase"}]} | fields)


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ('{"id": "q2", "prompt": "p", "checks": [', "invalid JSON: Expecting value at column 40"),
        ('{"id": "q2", "prompt": "p", "checks": [{"type": "number", "value": NaN}]}', "NaN is not valid JSON"),
        ('["q2"]', "each line must be a JSON object"),
        (json.dumps({"prompt": "p", "checks": [{"type": "lowercase"}]}), '"id" must be a non-empty string'),
        (item(id=7), '"id" must be a non-empty string'),
        (item(prompt="  "), '"prompt" must be a non-empty string'),
        (item(checks=[]), 'item "q2": "checks" must be a non-empty array'),
        (item(checks={"type": "json"}), 'item "q2": "checks" must be a non-empty array'),
        (item(category=""), '"category" must be a non-empty string when present'),
        (item(answer="x"), "unknown field(s): answer"),
        (item(checks=[{"type": "json"}, {"type": "bogus"}]), 'item "q2", checks[1]: unknown check type "bogus"'),
        (item(checks=[{"type": "max_words", "value": "50"}]), 'item "q2", checks[0]: "value" must be an integer'),
        (item(checks=[{"type": "regex", "pattern": "[a-"}]), 'checks[0]: "pattern" is no valid regular expression'),
        (item(id="q1"), 'duplicate id "q1" (first on line 1)'),
    ],
)
def test_malformed_line_is_refused_naming_file_and_line(write_file: WriteFile, bad_line: str, reason: str) -> None:
    path = write_file(f"{GOOD}\n\n{bad_line}\n")
    with pytest.raises(QuestionFileError, match=re.escape(f"{path}:3: ") + ".*" + re.escape(reason)) as raised:
        load_questions(path)
    assert (raised.value.path, raised.value.line) == (path, 3)


def test_empty_file_is_refused_naming_the_file(write_file: WriteFile) -> None:
    path = write_file("\n\n")
    with pytest.raises(QuestionFileError, match=re.escape(f"{path}: holds no questions")):
        load_questions(path)


def test_missing_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.jsonl"
    with pytest.raises(QuestionFileError, match=re.escape(f"{path}: cannot be read")):
        load_questions(path)


def test_shipped_sets_load_with_at_least_200_items_and_ids_unique_across_both() -> None:
    dev, heldout = load_questions(shipped_questions("dev")), load_questions(shipped_questions("heldout"))
    ids = [question.id for question in dev + heldout]
    assert len(ids) >= 200
    assert len(set(ids)) == len(ids)
    assert len(dev) >= 100
    assert len(heldout) >= 100


def test_shipped_sets_cover_every_category_in_both_splits() -> None:
    categories = {"factual", "arithmetic", "reasoning", "format"}
    for split in ("dev", "heldout"):
        counts = Counter(question.category for question in load_questions(shipped_questions(split)))
        assert set(counts) == categories, split
        assert min(counts.values()) >= 20, (split, counts)


def test_a_limit_takes_questions_in_turn_from_each_category() -> None:
    def item(n: int, category: str | None) -> Question:
        return Question(id=f"q{n}", prompt="?", checks=(), category=category)

    questions = [item(1, "factual"), item(2, "factual"), item(3, "factual"), item(4, "arithmetic"), item(5, None),
                 item(6, "arithmetic"), item(7, "format")]  # fmt: skip

    assert [q.id for q in spread(questions, 5)] == ["q1", "q4", "q5", "q7", "q2"]
    assert [q.id for q in spread(questions, 100)] == ["q1", "q4", "q5", "q7", "q2", "q6", "q3"]
    shipped = spread(load_questions(shipped_questions("heldout")), 8)
    assert sorted(Counter(q.category for q in shipped).values()) == [2, 2, 2, 2]
