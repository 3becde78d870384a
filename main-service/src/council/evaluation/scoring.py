"""Scoring an answer against a question: code only, no judge model. An item passes when every check passes."""

from dataclasses import dataclass

from council.evaluation.checks import CheckOutcome
from council.evaluation.questions import Question


@dataclass(frozen=True)
class ItemScore:
    """One answer's verdict, with every check's outcome so a report can say why it failed."""

    question_id: str
    outcomes: tuple[CheckOutcome, ...]

    @property
    def passed(self) -> bool:
        return all(outcome.passed for outcome in self.outcomes)

    @property
    def failures(self) -> tuple[CheckOutcome, ...]:
        return tuple(outcome for outcome in self.outcomes if not outcome.passed)


def score(question: Question, answer: str) -> ItemScore:
    """Run every check of the question on the answer (all of them, not only up to the first failure)."""
    return ItemScore(question.id, tuple(check.evaluate(answer) for check in question.checks))
