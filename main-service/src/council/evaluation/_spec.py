"""Reading one check's JSON fields with messages that name the field and the type found."""

import math
from collections.abc import Mapping
from fractions import Fraction

from council.evaluation.errors import CheckSpecError

_JSON_TYPES: dict[type[object], str] = {str: "a string", int: "an integer", float: "a number", bool: "a boolean", list: "an array",
               dict: "an object", type(None): "null"}  # fmt: skip


def json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


class CheckSpec:
    """Reads a check's fields with messages that name the field; remembers which fields were read."""

    def __init__(self, raw: Mapping[str, object]) -> None:
        self._raw = raw
        self._read = {"type"}

    def _field(self, key: str) -> object:
        self._read.add(key)
        if key not in self._raw:
            raise CheckSpecError(f'missing "{key}"')
        return self._raw[key]

    def text(self, key: str) -> str:
        value = self._field(key)
        if not isinstance(value, str) or not value:
            found = "an empty string" if value == "" else json_type(value)
            raise CheckSpecError(f'"{key}" must be a non-empty string, got {found}')
        return value

    def integer(self, key: str, *, minimum: int) -> int:
        value = self._field(key)
        # bool is an int in Python but `true` is no count in JSON.
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            shown = value if isinstance(value, int) and not isinstance(value, bool) else json_type(value)
            raise CheckSpecError(f'"{key}" must be an integer >= {minimum}, got {shown}')
        return value

    def number(self, key: str) -> Fraction:
        value = self._field(key)
        wrong_type = isinstance(value, bool) or not isinstance(value, int | float)
        if wrong_type or (isinstance(value, float) and not math.isfinite(value)):
            raise CheckSpecError(f'"{key}" must be a number, got {json_type(value)}')
        # Through str so 0.1 is exactly 1/10, as it was written in the file.
        return Fraction(str(value))

    def unknown_fields(self) -> list[str]:
        return sorted(key for key in self._raw if key not in self._read)
