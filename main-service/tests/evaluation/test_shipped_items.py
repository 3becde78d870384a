"""Every shipped item can be passed: an ideal reply passes all its checks, and near misses fail."""

import pytest

from council.evaluation import Question, load_questions, score, shipped_questions
from council.evaluation.checks import AnswerCheck, NumberCheck

# An ideal reply per item whose checks are not a single `number` or `answer` (those get "Answer: <value>").
REFERENCE_REPLIES = {
    "format-bullets-3-1": "- apple\n- banana\n- cherry",
    "format-bullets-3-2": "- piano\n- violin\n- drum",
    "format-bullets-5-1": "- a\n- b\n- c\n- d\n- e",
    "format-bullets-5-2": "- read\n- bake\n- nap\n- paint\n- chess",
    "format-lowercase-sentence-1": "the ocean is deep and blue.",
    "format-lowercase-sentence-2": "autumn leaves fall softly to the ground.",
    "format-max-words-1": "A small furry animal that purrs.",
    "format-max-words-2": "Two wheels, pedals, and a chain.",
    "format-min-words-1": " ".join(["word"] * 60),
    "format-min-words-2": " ".join(["word"] * 61),
    "format-json-person-1": '{"name": "Alice", "age": 30}',
    "format-json-person-2": '```json\n{"city": "Lyon", "population": 520000}\n```',
    "format-json-array-1": "[2, 3, 5]",
    "format-json-array-2": "[1, 4, 9, 16]",
    "format-json-list-key-1": '{"colors": ["red", "green", "blue"]}',
    "format-json-list-key-2": '{"animals": ["dog", "cat"]}',
    "format-json-answer-1": '{"answer": 56}',
    "format-json-answer-2": '{"answer": 108}',
    "format-no-letter-e-1": "Pink",
    "format-no-letter-e-2": "Dog",
    "format-uppercase-word-1": "HELLO",
    "format-uppercase-word-2": "RIVER",
    "format-yes-no-1": "Yes.",
    "format-yes-no-2": "No",
    "format-avoid-word-1": "Plants make food from light, water and carbon dioxide.",
    "format-avoid-word-2": "Rain is liquid falling from clouds.",
    "format-include-words-1": "The river runs below the mountain.",
    "format-include-words-2": "A lantern glowed in the harbour.",
    "format-lowercase-answer-1": "the capital of italy is rome.",
    "format-lowercase-answer-2": "madrid",
    "format-repeat-exactly-1": "The quick brown fox jumps over the lazy dog.",
    "format-repeat-exactly-2": "A journey of a thousand miles begins with a single step.",
    "format-start-word-1": "Certainly! A map is a drawing of an area.",
    "format-start-word-2": "Indeed, a clock shows the time.",
    "format-end-word-1": "Eggs, toast and coffee, and then I am done.",
    "format-end-word-2": "Soft sand and calm waves, finished.",
    "format-bullets-lowercase-1": "- dogs are loyal\n- dogs love walks",
    "format-bullets-lowercase-2": "- trees give shade\n- trees grow slowly",
    "format-exact-words-1": "The sky is blue.",
    "format-exact-words-2": "Music makes people feel happy.",
    "format-digit-only-1": "7",
    "format-digit-only-2": "25",
    "format-no-commas-1": "The city glows at night. Lights shine on every quiet street.",
    "format-no-commas-2": "The match was tense. The home team scored in the final minute.",
    "format-quoted-1": '"Every book opens a door."',
    "format-quoted-2": "“Fresh bread every morning.”",
    "format-reverse-word-1": "tac",
    "format-reverse-word-2": "pots",
    "format-comma-list-1": "Kenya, Nigeria, Egypt",
    "format-comma-list-2": "carrot, pea, onion",
    "format-weekdays-t-1": "- Tuesday\n- Thursday",
    "format-weekdays-t-2": "- Saturday\n- Sunday",
    "format-three-lines-1": "White snow falls\non the quiet town\nand all is still",
    "format-three-lines-2": "Waves roll in\nsalt on the wind\nthe sea breathes",
    "format-title-no-punct-1": "The Last Dragon of Winter",
    "format-title-no-punct-2": "The Key Nobody Found",
    "format-answer-line-1": "Air molecules scatter blue light more than red light.\nAnswer: scattering",
    "format-answer-line-2": "Ice is less dense than liquid water so it floats.\nAnswer: density",
    "fact-mona-lisa": "Answer: Leonardo da Vinci",
    "fact-starry-night": "Answer: Vincent van Gogh",
    "fact-largest-ocean": "**Answer:** the Pacific Ocean",
    "fact-tallest-mountain": "Answer: Mount Everest",
    "fact-largest-mammal": "Answer: the blue whale",
    "fact-plants-absorb": "Answer: CO2",
    "reason-weekday-1": "Answer: Wednesday",
    "reason-weekday-2": "Answer: Sunday",
    "reason-meeting-end-1": "Answer: 11:15",
    "reason-meeting-end-2": "Answer: 16:15",
}
# Near misses that must fail.
NEAR_MISSES = {
    "reason-weekday-1": "Answer: Tuesday",
    "reason-meeting-end-1": "Answer: 11:16",
    "fact-largest-ocean": "Answer: Atlantic",
    "format-quoted-1": "Every book opens a door.",
    "format-three-lines-1": "one\ntwo",
    "format-comma-list-1": "Kenya, Nigeria",
    "format-json-array-1": "[2, 3, 7]",
    "format-title-no-punct-1": "The Last Dragon!",
}

SHIPPED = [question for split in ("dev", "heldout") for question in load_questions(shipped_questions(split))]


def ideal_reply(question: Question) -> str:
    if question.id in REFERENCE_REPLIES:
        return REFERENCE_REPLIES[question.id]
    (check,) = question.checks  # an item with several checks needs a reference reply above
    if isinstance(check, NumberCheck):
        value = check.value
        return f"Let me work it out.\nAnswer: {value.numerator if value.denominator == 1 else float(value)}"
    assert isinstance(check, AnswerCheck), question.id
    return f"Answer: {check.value}"


@pytest.mark.parametrize("question", SHIPPED, ids=lambda question: question.id)
def test_shipped_item_passes_with_an_ideal_reply(question: Question) -> None:
    result = score(question, ideal_reply(question))
    assert result.passed, result.failures


@pytest.mark.parametrize(("question_id", "reply"), NEAR_MISSES.items())
def test_shipped_item_fails_a_near_miss(question_id: str, reply: str) -> None:
    (question,) = [question for question in SHIPPED if question.id == question_id]
    assert not score(question, reply).passed


def test_every_reference_reply_belongs_to_a_shipped_item() -> None:
    assert set(REFERENCE_REPLIES) <= {question.id for question in SHIPPED}
