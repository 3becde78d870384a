"""Partial transcripts that only ever append: the words successive hypotheses of one utterance agree on."""


class StableWords:
    """Local agreement over successive hypotheses of one growing utterance: only the words two consecutive ones
    agree on, as a common prefix, count as stable; what has been sent is never taken back, so deltas only append."""

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
        if words[: len(self.sent)] != self.sent:
            return ""
        return self._extend(words[len(self.sent) : agreed])

    def finish(self, transcript: str) -> str:
        """The final transcript is authoritative: the delta it adds to what was sent ("" if it starts otherwise)."""
        words = transcript.split()
        if words[: len(self.sent)] != self.sent:
            return ""
        return self._extend(words[len(self.sent) :])

    def _extend(self, words: list[str]) -> str:
        if not words:
            return ""
        delta = (" " if self.sent else "") + " ".join(words)
        self.sent += words
        return delta
