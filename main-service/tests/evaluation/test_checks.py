"""Every check type passes and fails where it should, and a malformed check says what is wrong."""

import re

import pytest

from council.evaluation import CHECK_TYPES, CheckSpecError, parse_check

ISSUE_TYPES = {"answer", "number", "contains", "not_contains", "regex", "max_words", "min_words", "lowercase",
               "bullets", "json"}  # fmt: skip

# (check as written in a question file, an answer it passes, an answer it fails): both outcomes for every type.
CASES = [
    ({"type": "answer", "value": "Paris"}, "The capital is Paris.\nAnswer: paris.", "Answer: Lyon"),
    ({"type": "answer", "value": "the Pacific Ocean"}, "Pacific ocean", "The largest is the Pacific Ocean."),
    ({"type": "number", "value": 42}, "6 * 7 = 42.\nAnswer: 42.", "Answer: 41"),
    ({"type": "number", "value": 127.5}, "Answer: $127.50", "Answer: 127"),
    ({"type": "number", "value": -8}, "It is -8 degrees.", "It is 8 degrees."),
    ({"type": "contains", "value": "Rome"}, "rome is the capital", "Milan is not the capital"),
    ({"type": "not_contains", "value": "sun"}, "Plants use light.", "The Sun gives light."),
    ({"type": "regex", "pattern": r"^\W*HELLO\W*$"}, "HELLO", "Hello"),
    ({"type": "max_words", "value": 3}, "one two three", "one two three four"),
    ({"type": "min_words", "value": 3}, "one two three", "one two"),
    ({"type": "lowercase"}, "all lower case, 42.", "Not all lower"),
    ({"type": "bullets", "value": 2}, "- a\n- b", "- a\n- b\n- c"),
    ({"type": "json"}, '```json\n{"name": "Alice"}\n```', "{'name': 'Alice'}"),
]


def test_the_registry_holds_exactly_the_issue_types() -> None:
    assert set(CHECK_TYPES) == ISSUE_TYPES
    assert {spec["type"] for spec, _, _ in CASES} == ISSUE_TYPES


@pytest.mark.parametrize(("spec", "passing", "failing"), CASES, ids=lambda value: str(value)[:40])
def test_check_passes_and_fails(spec: dict[str, object], passing: str, failing: str) -> None:
    check = parse_check(spec)
    assert check.evaluate(passing).passed, check.evaluate(passing)
    assert not check.evaluate(failing).passed, check.evaluate(failing)


def test_lowercase_fails_an_answer_without_letters() -> None:
    outcome = parse_check({"type": "lowercase"}).evaluate("")
    assert (outcome.passed, outcome.detail) == (False, "no letters")


def test_json_refuses_nan_and_text_around_the_json() -> None:
    check = parse_check({"type": "json"})
    assert not check.evaluate('{"a": NaN}').passed
    assert not check.evaluate('Sure! {"a": 1}').passed


def test_outcome_names_the_check_and_what_was_found() -> None:
    outcome = parse_check({"type": "number", "value": 42}).evaluate("Answer: 41")
    assert (outcome.check, outcome.passed, outcome.detail) == ("number 42", False, "found 41")
    words = parse_check({"type": "max_words", "value": 2}).evaluate("one two three")
    assert (words.check, words.detail) == ("max_words 2", "3 words")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "numbr", "value": 1}, 'unknown check type "numbr"; known: answer, number'),
        ({"value": 1}, '"type" must be a string, got null'),
        (["answer"], "must be an object, got an array"),
        ({"type": "number", "value": "42"}, '"value" must be a number, got a string'),
        ({"type": "number", "value": True}, '"value" must be a number, got a boolean'),
        ({"type": "max_words", "value": 2.5}, '"value" must be an integer >= 1, got a number'),
        ({"type": "max_words", "value": 0}, '"value" must be an integer >= 1, got 0'),
        ({"type": "bullets", "value": -1}, '"value" must be an integer >= 0, got -1'),
        ({"type": "contains", "value": ""}, '"value" must be a non-empty string, got an empty string'),
        ({"type": "answer", "value": "The"}, "normalizes to nothing"),
        (
            {"type": "regex", "pattern": "(unclosed"},
            '"pattern" is no valid regular expression: missing ), unterminated',
        ),
        ({"type": "regex", "value": "x"}, 'missing "pattern"; unknown field(s): value'),
        ({"type": "lowercase", "value": True}, 'unknown field(s) for "lowercase": value'),
    ],
)
def test_malformed_check_is_refused_with_the_reason(spec: object, message: str) -> None:
    with pytest.raises(CheckSpecError, match=re.escape(message)):
        parse_check(spec)
