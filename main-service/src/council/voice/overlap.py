"""What speech over a running answer means: a noise with no words, a backchannel ("mm-hmm", "okay"), or an
interruption that should stop the answer."""

import re
from typing import Literal

Overlap = Literal["noise", "backchannel", "interruption"]

_WORD = re.compile(r"[a-z0-9']+")
_MAX_BACKCHANNEL_WORDS = 4  # "yeah, okay, mm-hmm" is still listening; a sentence is not


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def classify(text: str, backchannels: frozenset[str]) -> Overlap:
    """`backchannels` holds the words of the configured backchannel phrases; empty: any word interrupts."""
    heard = words(text)
    if not heard:
        return "noise"
    if len(heard) <= _MAX_BACKCHANNEL_WORDS and all(word in backchannels for word in heard):
        return "backchannel"
    return "interruption"
