"""The end-of-turn rule: how a pause sounded and what its transcript said, fused, with what decided it."""

import pytest

from voice.realtime.end_of_turn import Heard, TurnRule, decide, waits_for_words
from voice.realtime.endpointing import StopReason

RULE = TurnRule(threshold=0.5, text_audio_floor=0.1, hold_unfinished=True)  # a floor above the default 0
FINISHED = Heard.of("What is the capital of France?", "en")
UNFINISHED = Heard.of("What is the capital of", "en")
PLAIN = Heard.of("I want to know", "en")


def test_the_words_decide_when_the_audio_is_unsure_and_they_read_as_a_finished_question() -> None:
    assert decide(RULE, 0.2, FINISHED) is StopReason.TEXT
    assert decide(RULE, 0.2, PLAIN) is None  # no mark of a finished turn: the silence decides


def test_the_audio_decides_when_it_is_sure_and_both_when_the_words_agree() -> None:
    assert decide(RULE, 0.9, PLAIN) is StopReason.AUDIO
    assert decide(RULE, 0.9, FINISHED) is StopReason.BOTH
    assert decide(RULE, 0.9, None) is StopReason.AUDIO  # the words were not waited for


def test_unfinished_words_veto_the_audio_unless_the_hold_is_off() -> None:
    assert decide(RULE, 0.99, UNFINISHED) is None
    no_hold = TurnRule(threshold=0.5, text_audio_floor=0.1, hold_unfinished=False)
    assert decide(no_hold, 0.99, UNFINISHED) is StopReason.AUDIO
    assert not waits_for_words(no_hold, 0.99)  # nothing to wait for: the audio's verdict is final


def test_audio_that_is_clearly_not_done_is_not_overruled_by_the_words() -> None:
    assert not waits_for_words(RULE, 0.05)
    assert decide(RULE, 0.05, FINISHED) is None
    assert waits_for_words(RULE, 0.1)
    assert waits_for_words(RULE, 0.6)


def test_a_floor_at_the_threshold_turns_the_words_ending_a_turn_off() -> None:
    audio_only = TurnRule(threshold=0.5, text_audio_floor=0.5, hold_unfinished=True)
    assert not waits_for_words(audio_only, 0.49)
    assert decide(audio_only, 0.49, FINISHED) is None


@pytest.mark.parametrize("language", ["de", None])
def test_only_english_words_are_read(language: str | None) -> None:
    assert Heard.of("What is the capital of", language) == Heard(unfinished=False, finished=False)
    assert Heard.of(None, "en") == Heard(unfinished=False, finished=False)


READ = TurnRule(threshold=0.5, text_audio_floor=0.1, hold_unfinished=True, model_hold_below=1e-8, model_end_at=0.01)


def read_as(text: str, model: float) -> Heard:
    return Heard.of(text, "en", model)


def test_a_head_the_model_reads_as_unfinished_vetoes_the_audios_done() -> None:
    # "Can you tell me?" said with a falling pitch: Smart Turn is sure (0.97 on Piper), SmolLM2 reads ≈3e-11.
    assert decide(READ, 0.97, read_as("Can you tell me?", 3e-11)) is None
    assert decide(READ, 0.97, read_as("Tell me a joke.", 4e-6)) is StopReason.AUDIO  # above the veto: audio decides
    assert decide(READ, 0.97, Heard.of("Can you tell me?", "en")) is StopReason.AUDIO  # no reading: rules alone


def test_a_whole_question_by_the_rules_outweighs_the_models_doubt() -> None:
    # Whisper's garbled "How far away is the move?" reads ≈2e-10 to the model: the rules' whole question still ends it.
    assert decide(READ, 0.3, read_as("How far away is the move?", 2e-10)) is StopReason.TEXT
    assert decide(READ, 0.9, read_as("How far away is the move?", 2e-10)) is StopReason.BOTH


def test_words_the_model_reads_as_finished_end_the_turn_when_the_audio_is_unsure() -> None:
    text = "What I would really like is a short summary of the French Revolution."  # no question mark
    assert decide(READ, 0.3, read_as(text, 0.04)) is StopReason.TEXT
    assert decide(READ, 0.3, read_as(text, 0.001)) is None  # between the two thresholds: the silence decides
    assert decide(READ, 0.05, read_as(text, 0.9)) is None  # under the floor the audio stays clearly not done
    assert decide(READ, 0.9, read_as(text, 0.04)) is StopReason.BOTH


def test_the_models_reading_never_overrides_a_dangling_word() -> None:
    assert decide(READ, 0.97, read_as("Please send the report to", 0.5)) is None


def test_without_model_thresholds_a_reading_changes_nothing() -> None:
    for model in (0.0, 1e-12, 0.5, 1.0):
        assert decide(RULE, 0.97, read_as("Can you tell me?", model)) is StopReason.AUDIO
        assert decide(RULE, 0.3, read_as("I want to know", model)) is None


def test_a_reading_is_waited_for_only_where_it_could_change_the_verdict() -> None:
    assert FINISHED.settled_by_rules  # a whole question: the rules decide
    assert UNFINISHED.settled_by_rules  # a dangling word: held whatever the model reads
    assert not PLAIN.settled_by_rules  # "I want to know": only a model can tell
    for model in (0.0, 1e-12, 0.5, 1.0):  # and indeed no reading changes what the rules settled
        for text, probability in (("What is the capital of France?", 0.97), ("What is the capital of France?", 0.3)):
            assert decide(READ, probability, read_as(text, model)) == decide(READ, probability, Heard.of(text, "en"))
        assert decide(READ, 0.97, read_as("What is the capital of", model)) is None
