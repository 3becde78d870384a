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
