"""The reading rules the scorer applies to an answer, case by case as docs/eval.md states them."""

from fractions import Fraction

import pytest

from council.evaluation._text import (
    answer_number,
    bullet_lines,
    count_words,
    final_answer_line,
    normalize_answer,
    numbers,
    strict_json,
    without_code_fence,
)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("It is Paris.\nAnswer: Paris", "Paris"),
        ("**Answer:** 42", "42"),
        ("Final answer: x = 3", "x = 3"),
        ("answer: first\nthen more\nANSWER: second", "second"),
        ("Answer:\n\n  **Rome**  \nmore", "Rome"),
        ("The answer is 42", None),
        ("Answer:", None),
    ],
)
def test_final_answer_line_is_the_text_after_the_last_label(text: str, line: str | None) -> None:
    assert final_answer_line(text) == line


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("The Eiffel Tower!", "eiffel tower"),
        ("  an   Apple ", "apple"),
        ("Brasília", "brasilia"),
        ("Jean-Paul's", "jean paul s"),
        ("3.5", "3.5"),
        ("1,000 km", "1000 km"),
        ("end.", "end"),
        ("H₂O", "h2o"),
        ("$5 & 10%", "5 10"),
    ],
)
def test_normalize_answer(text: str, normalized: str) -> None:
    assert normalize_answer(text) == normalized


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("It costs $1,234.50 in total.", [Fraction("1234.5")]),
        ("The answer is 42.", [Fraction(42)]),
        ("-7 and \u22123", [Fraction(-7), Fraction(-3)]),
        ("pages 3-4", [Fraction(3), Fraction(4)]),
        ("three quarters is 3/4", [Fraction(3, 4)]),
        ("1/0 is undefined", []),
        ("version x2 and .5", []),
        ("12,34", [Fraction(12), Fraction(34)]),
    ],
)
def test_numbers_reads_signs_separators_decimals_and_fractions(text: str, found: list[Fraction]) -> None:
    assert numbers(text) == found


def test_answer_number_prefers_the_answer_line_over_later_numbers() -> None:
    assert answer_number("Step 1: 6 * 7\nAnswer: 42\nHope step 2 helps.") == 42


def test_answer_number_falls_back_to_the_whole_text() -> None:
    assert answer_number("6 times 7 is 42.\nAnswer: forty-two") == 42
    assert answer_number("6 times 7 is 42.") == 42
    assert answer_number("no digits here") is None


def test_count_words_ignores_marks_that_hold_no_letter_or_digit() -> None:
    assert count_words("- one two — three's 4.5 !") == 4


def test_bullet_lines_accept_unordered_markers_only() -> None:
    text = "- a\n* b\n  + c\n• d\n1. e\n**bold**\n-no space\n---"
    assert bullet_lines(text) == ["- a", "* b", "  + c", "• d"]


def test_without_code_fence_unwraps_one_block_that_is_the_whole_text() -> None:
    assert without_code_fence('```json\n{"a": 1}\n```\n') == '{"a": 1}'
    assert without_code_fence('Here: ```json\n{"a": 1}\n```') == 'Here: ```json\n{"a": 1}\n```'


def test_strict_json_refuses_nan() -> None:
    with pytest.raises(ValueError, match="NaN"):
        strict_json('{"a": NaN}')
