"""What can be wrong with a question file: a check that cannot be built, and the file error naming the line."""

from pathlib import Path


class CheckSpecError(ValueError):
    """A check's JSON object is malformed (unknown type, missing or mistyped field, invalid regex)."""


class QuestionFileError(ValueError):
    """A question file cannot be used; the message names the file and, when one is at fault, the line."""

    def __init__(self, path: Path, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")
