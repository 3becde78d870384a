"""Question files: JSON Lines of `{"id", "prompt", "checks", "category"?}`, loaded whole or refused with the line."""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from itertools import chain, zip_longest
from pathlib import Path
from typing import Literal

from council.evaluation._text import strict_json
from council.evaluation.checks import Check, parse_check
from council.evaluation.errors import CheckSpecError, QuestionFileError

type Split = Literal["dev", "heldout"]

SHIPPED_DIR = Path(str(files("council.evaluation") / "questions"))

_FIELDS = frozenset({"id", "prompt", "checks", "category"})


@dataclass(frozen=True)
class Question:
    """One item: the prompt sent as a user message, and the checks its answer must all pass."""

    id: str
    prompt: str
    checks: tuple[Check, ...]
    category: str | None = None


def shipped_questions(split: Split) -> Path:
    """The question file that ships with the package: `dev` to tune on, `heldout` never tuned on."""
    return SHIPPED_DIR / f"{split}.jsonl"


def spread(questions: Sequence[Question], limit: int) -> list[Question]:
    """The first `limit` questions taken in turn from each category (in file order), so that a short run still
    covers every kind of item; the items without a category form one group of their own."""
    groups: dict[str | None, list[Question]] = {}
    for question in questions:
        groups.setdefault(question.category, []).append(question)
    in_turn = chain.from_iterable(zip_longest(*groups.values()))
    return [question for question in in_turn if question is not None][:limit]


def load_questions(path: Path) -> list[Question]:
    """Every question of a file, in order; the first problem raises `QuestionFileError` naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise QuestionFileError(path, None, f"cannot be read: {error}") from error
    questions: list[Question] = []
    first_line_of: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue  # blank lines separate groups of items
        try:
            question = _parse_question(line)
        except ValueError as error:  # json.JSONDecodeError and CheckSpecError are ValueErrors
            raise QuestionFileError(path, number, str(error)) from error
        if question.id in first_line_of:
            raise QuestionFileError(
                path, number, f'duplicate id "{question.id}" (first on line {first_line_of[question.id]})'
            )
        first_line_of[question.id] = number
        questions.append(question)
    if not questions:
        raise QuestionFileError(path, None, "holds no questions")
    return questions


def _parse_question(line: str) -> Question:
    try:
        raw = strict_json(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"invalid JSON: {error.msg} at column {error.colno}") from error
    if not isinstance(raw, dict):
        raise ValueError("each line must be a JSON object")
    if unknown := sorted(set(raw) - _FIELDS):
        raise ValueError(f"unknown field(s): {', '.join(unknown)}; an item has id, prompt, checks and category")
    item_id = _required_text(raw, "id")
    prompt = _required_text(raw, "prompt")
    category = raw.get("category")
    if category is not None and (not isinstance(category, str) or not category):
        raise ValueError('"category" must be a non-empty string when present')
    raw_checks = raw.get("checks")
    if not isinstance(raw_checks, list) or not raw_checks:
        raise ValueError(f'item "{item_id}": "checks" must be a non-empty array')
    checks: list[Check] = []
    for index, raw_check in enumerate(raw_checks):
        try:
            checks.append(parse_check(raw_check))
        except CheckSpecError as error:
            raise CheckSpecError(f'item "{item_id}", checks[{index}]: {error}') from error
    return Question(id=item_id, prompt=prompt, checks=tuple(checks), category=category)


def _required_text(raw: Mapping[str, object], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f'"{key}" must be a non-empty string')
    return value
