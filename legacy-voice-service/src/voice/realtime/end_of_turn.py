"""Whether a pause ends the turn, from how it sounded (the turn engine's probability) and what was said (the
transcript started at the pause): one rule, in one place, with the name of what decided it.

The words are read two ways: by rules (`words`: a dangling last word, a whole question) and, when the session's
client reads them with a language model (`turn_detection.text_end_of_turn: "client"`; the main service does, with
its bundled chat model), by that model's probability that the user's message ends there (`Heard.model`).

The rule (semantic_vad; `TurnSettings` holds its numbers, fitted on the bench's utterances, `bench/voice/turn_signals.py`
and `bench/turn_words.py`):
- the words veto: a transcript that sounds unfinished (`words.sounds_unfinished`), or that the model reads as
  unfinished (probability under `model_hold_below`) unless the rules read it as a whole question, never ends the
  turn early (`hold_unfinished`);
- the audio decides when it is sure: probability >= `threshold` ends the turn (`audio`, or `both` when the words
  say so too);
- the words decide when the audio is unsure: a transcript that reads as a finished turn (`words.reads_finished`,
  or the model's probability at least `model_end_at`) ends it when the audio's probability is at least
  `text_audio_floor` (`text`; a floor at or above `threshold` turns this off);
- otherwise the turn goes on until speech resumes or the longest silence passes (`timeout`).
"""

from dataclasses import dataclass

from voice.realtime.endpointing import StopReason
from voice.realtime.words import reads_finished, sounds_unfinished
from voice.settings import TurnSettings

READ_LANGUAGE = "en"  # the words' rules are English ones; other languages' words say nothing either way


@dataclass(frozen=True)
class TurnRule:
    threshold: float  # the turn engine's probability at or above which it is sure the speaker is done
    text_audio_floor: float  # below this, even finished-looking words wait (the audio says "clearly not done")
    hold_unfinished: bool  # words that sound unfinished veto the audio's "done"
    model_hold_below: float = 0.0  # a language model's probability of the end under this: the words sound unfinished
    model_end_at: float = 2.0  # ... at or above this: the words read as a finished turn (above 1: never)

    @classmethod
    def of(cls, turn: TurnSettings) -> "TurnRule":
        return cls(
            turn.threshold, turn.text_audio_floor, turn.hold_unfinished, turn.model_hold_below, turn.model_end_at
        )


@dataclass(frozen=True)
class Heard:
    """What a pause's transcript said, as far as the turn is concerned: by the rules of `words`, and by the client's
    language model when it read them (`model`: its probability that the message ends there; None: not read)."""

    unfinished: bool
    finished: bool
    model: float | None = None

    @classmethod
    def of(cls, text: str | None, language: str | None, model: float | None = None) -> "Heard":
        """Only English words are read; any other language (or no transcript) says nothing either way."""
        if text is None or language != READ_LANGUAGE:
            return cls(unfinished=False, finished=False)
        return cls(unfinished=sounds_unfinished(text), finished=reads_finished(text), model=model)

    @property
    def settled_by_rules(self) -> bool:
        """The rules alone decide what these words say: a model's reading could change nothing (`unfinished_by`
        and `finished_by` give way to the rules), so nobody need wait for one."""
        return self.finished or self.unfinished

    def unfinished_by(self, rule: TurnRule) -> bool:
        """The rules' whole question outweighs the model's doubt (it reads garbled questions as unfinished)."""
        doubted = not self.finished and self.model is not None and self.model < rule.model_hold_below
        return self.unfinished or doubted

    def finished_by(self, rule: TurnRule) -> bool:
        return self.finished or (self.model is not None and self.model >= rule.model_end_at)


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
    if heard.unfinished_by(rule) and rule.hold_unfinished:
        return None
    if sure:
        return StopReason.BOTH if heard.finished_by(rule) else StopReason.AUDIO
    if heard.finished_by(rule) and probability >= rule.text_audio_floor:
        return StopReason.TEXT
    return None
