"""Speech over a running answer: noise and backchannels let it go on, anything else interrupts it."""

import pytest

from council.voice.overlap import classify, words

BACKCHANNELS = frozenset(w for phrase in ["mm-hmm", "okay", "yeah", "i see", "uh-huh"] for w in words(phrase))


@pytest.mark.parametrize(
    ("heard", "meaning"),
    [
        ("", "noise"),
        (" ... ", "noise"),
        ("Mm-hmm.", "backchannel"),
        ("Okay, yeah.", "backchannel"),
        ("I see.", "backchannel"),
        ("Uh-huh, okay, yeah.", "backchannel"),
        ("Wait, stop.", "interruption"),
        ("Okay, but what about Mars?", "interruption"),
        ("yeah yeah yeah yeah yeah", "interruption"),  # past a backchannel's length: the user is saying something
    ],
)
def test_speech_over_an_answer_is_noise_a_backchannel_or_an_interruption(heard: str, meaning: str) -> None:
    assert classify(heard, BACKCHANNELS) == meaning


def test_without_backchannels_any_word_interrupts() -> None:
    assert classify("Mm-hmm.", frozenset()) == "interruption"
    assert classify("", frozenset()) == "noise"
