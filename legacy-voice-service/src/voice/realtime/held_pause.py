"""A pause whose verdict waits for its words: plain state, no sockets, threads or awaits.

At a pause the turn engine scores the audio; when the rule (`end_of_turn`) needs the words too, the pause is held
until the transcript started at it is in. Meanwhile the speaker may go on (the pause no longer holds), the item may
end otherwise (a commit, a clear), or the longest silence may run out (the words still decide why the turn ended,
so the reason never depends on how fast the transcript came). The session awaits the transcript and tells this
class what happened, in whatever order it happened; this class says what ends the turn, and where.
"""

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from voice.realtime.end_of_turn import Heard, TurnRule, decide, waits_for_words
from voice.realtime.endpointing import StopReason

Words = TypeVar("Words")
"""Whatever the session awaits a pause's transcript from (its speculative read); opaque here."""


@dataclass(frozen=True)
class Verdict:
    """The turn ends, for `reason`, with the utterance cut at `end` (a sample of the session's buffer)."""

    reason: StopReason
    end: int


@dataclass(eq=False)
class HeldPause(Generic[Words]):  # the voice service runs on Python 3.11
    """One pause waiting for its words; compared by identity, so a stale one never matches the current one."""

    end: int  # where the utterance would be cut at this pause
    probability: float  # the turn engine's, at this pause
    words: Words | None = field(default=None)


class HeldPauses(Generic[Words]):  # the voice service runs on Python 3.11
    """The session's held pause, if any, and the rule that settles it."""

    def __init__(self, rule: TurnRule) -> None:
        self.rule = rule
        self.held: HeldPause[Words] | None = None

    def pause(self, end: int, probability: float, words: Words | None) -> Verdict | HeldPause[Words] | None:
        """A pause the turn engine has scored: the verdict now (the audio alone decides), the pause held until its
        words are in (`heard`), or None: the turn goes on without waiting for anything."""
        if not waits_for_words(self.rule, probability):
            reason = decide(self.rule, probability, None)
            return None if reason is None else Verdict(reason, end)
        self.held = HeldPause(end, probability, words)
        return self.held

    def heard(self, pause: HeldPause[Words], heard: Heard) -> Verdict | None:
        """The words of `pause` are in: the verdict, or None when the turn goes on or `pause` no longer holds
        (the speaker went on, the item ended otherwise, or the silence ran out and decided with these words)."""
        if self.held is not pause:
            return None
        self.held = None
        reason = decide(self.rule, pause.probability, heard)
        return None if reason is None else Verdict(reason, pause.end)

    def release(self) -> None:
        """The pause no longer holds: speech resumed, the item ended, or turn detection changed."""
        self.held = None

    def take(self) -> HeldPause[Words] | None:
        """The silence ran out: the held pause, if any, is settled by `after_silence` (with its words) and no
        longer by `heard`."""
        pause, self.held = self.held, None
        return pause

    def after_silence(self, pause: HeldPause[Words] | None, heard: Heard | None, silence: Verdict) -> Verdict:
        """What ends the turn when the silence ran out: the held pause's words, when they end it there (the turn
        was over at the pause, only its transcript came late), else the silence itself."""
        if pause is not None and heard is not None:
            reason = decide(self.rule, pause.probability, heard)
            if reason is not None:
                return Verdict(reason, pause.end)
        return silence
