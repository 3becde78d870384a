"""The check types of a question file: one small class per type behind `Check`, and the registry by type name."""

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import ClassVar, Self

from council.evaluation._spec import CheckSpec, json_type
from council.evaluation._text import (
    answer_number,
    bullet_lines,
    count_words,
    final_answer_line,
    normalize_answer,
    strict_json,
    without_code_fence,
)
from council.evaluation.errors import CheckSpecError


@dataclass(frozen=True)
class CheckOutcome:
    """One check's verdict on one answer; `detail` says what was found, so a report can say why an item failed."""

    check: str
    passed: bool
    detail: str


class Check(ABC):
    """A verifiable property of an answer. `evaluate` names the check beside the verdict of `_evaluate`. The defaults
    are those of a check without fields (`lowercase`, `json`); a check with a value overrides both."""

    type_name: ClassVar[str]

    @classmethod
    def from_spec(cls, spec: CheckSpec) -> Self:
        """Build the check from its JSON fields, raising `CheckSpecError` for a wrong or missing one."""
        return cls()

    def describe(self) -> str:
        """The check as a report shows it, e.g. `max_words 50`."""
        return self.type_name

    @abstractmethod
    def _evaluate(self, answer: str) -> tuple[bool, str]:
        """Whether the answer passes, and what was found."""

    def evaluate(self, answer: str) -> CheckOutcome:
        passed, detail = self._evaluate(answer)
        return CheckOutcome(check=self.describe(), passed=passed, detail=detail)


def _quoted(text: str, limit: int = 60) -> str:
    return json.dumps(text if len(text) <= limit else text[:limit] + "…", ensure_ascii=False)


@dataclass(frozen=True)
class _TextCheck(Check):
    """A check whose one field is a non-empty text `value`."""

    value: str

    @classmethod
    def from_spec(cls, spec: CheckSpec) -> Self:
        return cls(spec.text("value"))

    def describe(self) -> str:
        return f"{self.type_name} {_quoted(self.value)}"


@dataclass(frozen=True)
class _CountCheck(Check):
    """A check whose one field is an integer `value` of at least `minimum`, compared with a count in the answer."""

    minimum: ClassVar[int] = 1
    value: int

    @classmethod
    def from_spec(cls, spec: CheckSpec) -> Self:
        return cls(spec.integer("value", minimum=cls.minimum))

    def describe(self) -> str:
        return f"{self.type_name} {self.value}"


@dataclass(frozen=True)
class AnswerCheck(_TextCheck):
    """The final answer line, or else the whole answer, equals the value after `normalize_answer`."""

    type_name: ClassVar[str] = "answer"

    @classmethod
    def from_spec(cls, spec: CheckSpec) -> Self:
        check = super().from_spec(spec)
        if not normalize_answer(check.value):
            raise CheckSpecError(f'"value" {_quoted(check.value)} normalizes to nothing (only punctuation or articles)')
        return check

    def _evaluate(self, answer: str) -> tuple[bool, str]:
        expected = normalize_answer(self.value)
        line = final_answer_line(answer)
        candidates = [normalize_answer(line)] if line is not None else []
        candidates.append(normalize_answer(answer))
        if expected in candidates:
            return True, f"found {_quoted(expected)}"
        return False, f"expected {_quoted(expected)}, got {_quoted(candidates[0])}"


@dataclass(frozen=True)
class NumberCheck(Check):
    """The number `answer_number` finds (last of the answer line, else of the answer) equals the value exactly."""

    type_name: ClassVar[str] = "number"
    value: Fraction

    @classmethod
    def from_spec(cls, spec: CheckSpec) -> Self:
        return cls(spec.number("value"))

    def describe(self) -> str:
        return f"number {_fraction_text(self.value)}"

    def _evaluate(self, answer: str) -> tuple[bool, str]:
        found = answer_number(answer)
        if found is None:
            return False, "no number in the answer"
        return found == self.value, f"found {_fraction_text(found)}"


def _fraction_text(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    decimal = float(value)
    return str(decimal) if Fraction(str(decimal)) == value else str(value)


@dataclass(frozen=True)
class ContainsCheck(_TextCheck):
    """The answer contains the value, ignoring case."""

    type_name: ClassVar[str] = "contains"

    def _evaluate(self, answer: str) -> tuple[bool, str]:
        present = self.value.casefold() in answer.casefold()
        return present, "present" if present else "absent"


@dataclass(frozen=True)
class NotContainsCheck(ContainsCheck):
    """The answer does not contain the value, ignoring case."""

    type_name: ClassVar[str] = "not_contains"

    def _evaluate(self, answer: str) -> tuple[bool, str]:
        present, detail = super()._evaluate(answer)
        return not present, detail


@dataclass(frozen=True)
class RegexCheck(Check):
    """The pattern (Python `re` syntax, inline flags such as `(?i)`) matches somewhere in the answer."""

    type_name: ClassVar[str] = "regex"
    pattern: re.Pattern[str]

    @classmethod
    def from_spec(cls, spec: CheckSpec) -> Self:
        pattern = spec.text("pattern")
        try:
            return cls(re.compile(pattern))
        except re.error as error:
            raise CheckSpecError(f'"pattern" is no valid regular expression: {error}') from error

    def describe(self) -> str:
        return f"regex {_quoted(self.pattern.pattern)}"

    def _evaluate(self, answer: str) -> tuple[bool, str]:
        match = self.pattern.search(answer)
        return (True, f"matched {_quoted(match.group(0))}") if match else (False, "no match")


@dataclass(frozen=True)
class MaxWordsCheck(_CountCheck):
    """At most `value` words (`count_words`: tokens holding a letter or digit)."""

    type_name: ClassVar[str] = "max_words"

    def _evaluate(self, answer: str) -> tuple[bool, str]:
        words = count_words(answer)
        return words <= self.value, f"{words} words"


@dataclass(frozen=True)
class MinWordsCheck(_CountCheck):
    """At least `value` words (`count_words`: tokens holding a letter or digit)."""

    type_name: ClassVar[str] = "min_words"

    def _evaluate(self, answer: str) -> tuple[bool, str]:
        words = count_words(answer)
        return words >= self.value, f"{words} words"


@dataclass(frozen=True)
class LowercaseCheck(Check):
    """The answer has letters and none of them is upper case."""

    type_name: ClassVar[str] = "lowercase"

    def _evaluate(self, answer: str) -> tuple[bool, str]:
        if not any(char.isalpha() for char in answer):
            return False, "no letters"  # an empty answer is not "all lower case"
        upper = [char for char in answer if char.isupper()]
        return (False, f"{len(upper)} upper-case letters, first {upper[0]!r}") if upper else (True, "all lower case")


@dataclass(frozen=True)
class BulletsCheck(_CountCheck):
    """Exactly `value` bullet lines (`bullet_lines`: "-", "*", "+" or "•" then a space; numbered lines are not)."""

    type_name: ClassVar[str] = "bullets"
    minimum: ClassVar[int] = 0

    def _evaluate(self, answer: str) -> tuple[bool, str]:
        found = len(bullet_lines(answer))
        return found == self.value, f"{found} bullet lines"


@dataclass(frozen=True)
class JsonCheck(Check):
    """The answer parses as strict JSON (no NaN or Infinity), alone or as the one fenced block that is the answer."""

    type_name: ClassVar[str] = "json"

    def _evaluate(self, answer: str) -> tuple[bool, str]:
        try:
            parsed = strict_json(without_code_fence(answer))
        except ValueError as error:  # json.JSONDecodeError is a ValueError
            return False, f"not JSON: {error}"
        return True, f"parsed {json_type(parsed)}"


CHECK_TYPES: Mapping[str, type[Check]] = {
    check.type_name: check
    for check in (AnswerCheck, NumberCheck, ContainsCheck, NotContainsCheck, RegexCheck, MaxWordsCheck,
                  MinWordsCheck, LowercaseCheck, BulletsCheck, JsonCheck)
}  # fmt: skip


def parse_check(raw: object) -> Check:
    """The check a JSON object describes; `CheckSpecError` says what is wrong (unknown type, field, value)."""
    if not isinstance(raw, dict):
        raise CheckSpecError(f"must be an object, got {json_type(raw)}")
    type_name = raw.get("type")
    if not isinstance(type_name, str):
        raise CheckSpecError(f'"type" must be a string, got {json_type(type_name)}')
    check_type = CHECK_TYPES.get(type_name)
    if check_type is None:
        raise CheckSpecError(f'unknown check type "{type_name}"; known: {", ".join(CHECK_TYPES)}')
    spec = CheckSpec(raw)
    try:
        check = check_type.from_spec(spec)
    except CheckSpecError as error:
        if unknown := spec.unknown_fields():  # most often a misspelt field: name it beside the missing one
            raise CheckSpecError(f"{error}; unknown field(s): {', '.join(unknown)}") from error
        raise
    if unknown := spec.unknown_fields():
        raise CheckSpecError(f'unknown field(s) for "{type_name}": {", ".join(unknown)}')
    return check
