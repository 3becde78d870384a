"""The evaluation: question files with code-checked answers, the scorer, and the statistics a report needs."""

from council.evaluation.checks import CHECK_TYPES, Check, CheckOutcome, parse_check
from council.evaluation.errors import CheckSpecError, QuestionFileError
from council.evaluation.questions import Question, Split, load_questions, shipped_questions
from council.evaluation.scoring import ItemScore, score
from council.evaluation.stats import Interval, PairedComparison, PassRate, compare_paired, pass_rate, wilson_interval

__all__ = [
    "CHECK_TYPES",
    "Check",
    "CheckOutcome",
    "CheckSpecError",
    "Interval",
    "ItemScore",
    "PairedComparison",
    "PassRate",
    "Question",
    "QuestionFileError",
    "Split",
    "compare_paired",
    "load_questions",
    "parse_check",
    "pass_rate",
    "score",
    "shipped_questions",
    "wilson_interval",
]
