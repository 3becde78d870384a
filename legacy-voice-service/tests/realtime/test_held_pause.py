"""A pause held for its words, fed events in each order they can come, without sockets, tasks or engines."""

from voice.realtime.end_of_turn import Heard, TurnRule
from voice.realtime.endpointing import StopReason
from voice.realtime.held_pause import HeldPause, HeldPauses, Verdict

RULE = TurnRule(threshold=0.5, text_audio_floor=0.1, hold_unfinished=True)
NO_HOLD = TurnRule(threshold=0.5, text_audio_floor=0.5, hold_unfinished=False)  # words never matter
FINISHED = Heard.of("What is the capital of France?", "en")
UNFINISHED = Heard.of("What is the capital of", "en")
PLAIN = Heard.of("I want to know", "en")
SILENCE = Verdict(StopReason.TIMEOUT, 48_000)


def held(outcome: Verdict | HeldPause[str] | None) -> HeldPause[str]:
    assert isinstance(outcome, HeldPause), outcome
    return outcome


def test_a_pause_the_audio_alone_decides_is_settled_at_once_and_nothing_is_held() -> None:
    pauses = HeldPauses[str](NO_HOLD)
    assert pauses.pause(32_000, 0.9, "read") == Verdict(StopReason.AUDIO, 32_000)
    assert pauses.pause(32_000, 0.2, "read") is None  # unsure, and the words may not overrule it: goes on
    assert pauses.held is None


def test_an_unsure_pause_waits_for_its_words_and_finished_words_end_the_turn_there() -> None:
    pauses = HeldPauses[str](RULE)
    pause = held(pauses.pause(32_000, 0.2, "read at the quiet moment"))
    assert (pauses.held, pause.words) == (pause, "read at the quiet moment")
    assert pauses.heard(pause, FINISHED) == Verdict(StopReason.TEXT, 32_000)
    assert pauses.held is None


def test_words_that_do_not_end_the_turn_release_the_pause_and_the_silence_decides_later() -> None:
    pauses = HeldPauses[str](RULE)
    pause = held(pauses.pause(32_000, 0.9, None))  # the audio is sure, but unfinished words may veto it
    assert pauses.heard(pause, UNFINISHED) is None
    assert pauses.held is None
    assert pauses.after_silence(pauses.take(), None, SILENCE) == SILENCE


def test_speech_that_resumes_before_the_words_are_in_keeps_the_turn_open() -> None:
    pauses = HeldPauses[str](RULE)
    pause = held(pauses.pause(32_000, 0.2, "read"))
    pauses.release()  # Resumed
    assert pauses.heard(pause, FINISHED) is None  # too late: the speaker went on


def test_a_newer_pause_is_the_only_one_its_words_can_settle() -> None:
    pauses = HeldPauses[str](RULE)
    first = held(pauses.pause(16_000, 0.2, "first"))
    pauses.release()
    second = held(pauses.pause(40_000, 0.3, "second"))
    assert pauses.heard(first, FINISHED) is None
    assert pauses.held is second
    assert pauses.heard(second, FINISHED) == Verdict(StopReason.TEXT, 40_000)


def test_when_the_silence_runs_out_first_the_held_words_still_say_why_and_where_the_turn_ended() -> None:
    # The reason must not depend on how fast the transcript came: finished words end the turn at the pause.
    pauses = HeldPauses[str](RULE)
    pause = held(pauses.pause(32_000, 0.2, "read"))
    taken = pauses.take()
    assert taken is pause
    assert pauses.held is None
    assert pauses.heard(pause, FINISHED) is None  # the silence settles it now, not the words' own arrival
    assert pauses.after_silence(taken, FINISHED, SILENCE) == Verdict(StopReason.TEXT, 32_000)
    assert pauses.after_silence(taken, PLAIN, SILENCE) == SILENCE
    assert pauses.after_silence(None, None, SILENCE) == SILENCE
