"""Which transcripts so far sound unfinished (the end-of-turn check beside Smart Turn)."""

import pytest

from voice.realtime.words import reads_finished, sounds_unfinished


@pytest.mark.parametrize(
    "text",
    ["Please send the report to.", "What is the capital of", "Remind me to call the", "Tell me about...",
     "I'd like tea and", "My question is…", "  and  "],
)  # fmt: skip
def test_a_turn_ending_on_a_dangling_word_or_trailing_off_sounds_unfinished(text: str) -> None:
    assert sounds_unfinished(text)


@pytest.mark.parametrize(
    "text",
    ["What is the capital of France?", "Please send the report.", "Can you tell me?", "I want to know.",
     "Where is it?", "Theory", "", "Tomorrow at 10."],
)  # fmt: skip
def test_a_turn_ending_on_any_other_word_does_not(text: str) -> None:
    assert not sounds_unfinished(text)


@pytest.mark.parametrize(
    "text",
    ["What is the capital of France?", "Why is the sky blue?", "what time is it in Tokyo? ", 'He asked "Is it far?"'],
)
def test_a_question_of_five_words_or_more_reads_as_finished(text: str) -> None:
    assert reads_finished(text)


@pytest.mark.parametrize(
    "text",
    [
        "How do I?",
        "Can I?",
        "Can you tell me?",
        "I want to know.",
        "Thanks, that's all.",
        "What is the capital of?",
        "Tell me about...",
        "",
    ],
)
def test_fragments_statements_and_unfinished_questions_do_not(text: str) -> None:
    # A full stop says nothing: Whisper ends the fragments of the bench's pauses with one ("I want to know.").
    assert not reads_finished(text)
