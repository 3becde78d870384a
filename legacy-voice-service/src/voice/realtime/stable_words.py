"""Partial transcripts that only ever append: the words successive hypotheses of one utterance agree on."""

import re

_NOT_A_LETTER = re.compile(r"[^\w']")


def _key(word: str) -> str:
    """What makes two readings the same word: Whisper recases and repunctuates as more audio arrives."""
    return _NOT_A_LETTER.sub("", word.casefold())


class StableWords:
    """Local agreement over successive hypotheses of one growing utterance: only the words two consecutive ones
    agree on, exactly, as a common prefix, count as stable; what has been sent is never taken back, so deltas only
    append. What was sent is matched without case or punctuation, so "council" sent early is continued by a later
    hypothesis or a final that reads "Council,": a recasing must not hold back every word after it."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self._previous: list[str] | None = None

    def agree(self, hypothesis: str) -> str:
        """The delta that the newly stable words make ("" when none are new, or they contradict what was sent)."""
        words, previous = hypothesis.split(), self._previous
        self._previous = words
        if previous is None:
            return ""
        agreed = 0
        while agreed < min(len(words), len(previous)) and words[agreed] == previous[agreed]:
            agreed += 1
        if not self._continues(words):
            return ""
        return self._extend(words[len(self.sent) : agreed])

    def finish(self, transcript: str) -> str:
        """The final transcript is authoritative: the delta it adds to what was sent ("" if it starts otherwise)."""
        words = transcript.split()
        if not self._continues(words):
            return ""
        return self._extend(words[len(self.sent) :])

    def _continues(self, words: list[str]) -> bool:
        return len(words) >= len(self.sent) and all(
            _key(word) == _key(sent) for word, sent in zip(words, self.sent, strict=False)
        )

    def _extend(self, words: list[str]) -> str:
        if not words:
            return ""
        delta = (" " if self.sent else "") + " ".join(words)
        self.sent += words
        return delta
