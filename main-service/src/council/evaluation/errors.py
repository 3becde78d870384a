"""What can be wrong with a question file (a check that cannot be built, the file error naming the line), and with a
choice of configurations."""

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


class ConfigurationChoiceError(ValueError):
    """The configurations asked for cannot run: an unknown name (the message lists the known ones), or self-MoA
    without the runs it is set up from."""
