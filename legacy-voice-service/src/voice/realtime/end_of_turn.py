"""Whether a pause ends the turn, from how it sounded (the turn engine's probability) and what was said (the
transcript started at the pause): one rule, in one place, with the name of what decided it.

The rule (semantic_vad; `TurnSettings` holds its numbers, fitted on the bench's utterances, `bench/turn_signals.py`):
- the words veto: a transcript that sounds unfinished (`words.sounds_unfinished`) never ends the turn early
  (`hold_unfinished`);
- the audio decides when it is sure: probability >= `threshold` ends the turn (`audio`, or `both` when the words
  say so too);
- the words decide when the audio is unsure: a transcript that reads as a finished turn (`words.reads_finished`)
  ends it when the probability is at least `text_audio_floor` (`text`; a floor at or above `threshold` turns
  this off);
- otherwise the turn goes on until speech resumes or the longest silence passes (`timeout`).
"""

from dataclasses import dataclass

from voice.realtime.endpointing import StopReason
from voice.realtime.words import reads_finished, sounds_unfinished


@dataclass(frozen=True)
class TurnRule:
    threshold: float  # the turn engine's probability at or above which it is sure the speaker is done
    text_audio_floor: float  # below this, even finished-looking words wait (the audio says "clearly not done")
    hold_unfinished: bool  # words that sound unfinished veto the audio's "done"


@dataclass(frozen=True)
class Heard:
    """What a pause's transcript said, as far as the turn is concerned."""

    unfinished: bool
    finished: bool

    @classmethod
    def of(cls, text: str | None, language: str | None) -> "Heard":
        """Only English words are read; any other language (or no transcript) says nothing either way."""
        if text is None or language != "en":
            return cls(unfinished=False, finished=False)
        return cls(unfinished=sounds_unfinished(text), finished=reads_finished(text))


def waits_for_words(rule: TurnRule, probability: float) -> bool:
    """Whether this pause's verdict needs its transcript: the words may veto the audio's "done", or stand in for
    an unsure audio; a pause the audio rules out entirely needs nothing more."""
    if probability >= rule.threshold:
        return rule.hold_unfinished
    return probability >= rule.text_audio_floor


def decide(rule: TurnRule, probability: float, heard: Heard | None) -> StopReason | None:
    """What ends the turn at this pause, or None: it goes on. `heard` is None when the words were not waited for."""
    sure = probability >= rule.threshold
    if heard is None:
        return StopReason.AUDIO if sure else None
    if heard.unfinished and rule.hold_unfinished:
        return None
    if sure:
        return StopReason.BOTH if heard.finished else StopReason.AUDIO
    if heard.finished and probability >= rule.text_audio_floor:
        return StopReason.TEXT
    return None
