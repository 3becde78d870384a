"""What the transcript of an utterance so far says about the end of the turn: it sounds unfinished (it ends on a word
an English turn does not end on, or trails off: "..."), or it reads as finished (`reads_finished`).

Smart Turn hears the sound of the speech, not its grammar: "Please send the report to", said with a falling pitch,
scores as done (0.96 on Piper's voice). The transcript started at the pause is ready about when a turn would end
anyway (the turn's final transcript is that same one), so its last word may overrule the model without delaying the
transcript."""

import re

# Articles, possessives, conjunctions and prepositions. A preposition may end an English question ("Who is it for?"):
# holding one costs that turn the wait up to the longest silence, where a cut-off would cost the user their sentence.
DANGLING = frozenset(
    {
        "a", "an", "the", "my", "your", "our", "their",
        "and", "or", "but", "nor", "because", "if", "unless", "whether", "although", "than",
        "of", "to", "for", "with", "from", "at", "about", "into", "onto", "by", "in", "on",
    }
)  # fmt: skip
TRAILING_OFF = ("...", "…")


def sounds_unfinished(text: str) -> bool:
    stripped = text.strip()
    if stripped.endswith(TRAILING_OFF):
        return True
    words = re.findall(r"[\w']+", stripped.lower())
    return bool(words) and words[-1] in DANGLING


QUESTION_MARK = "?"
# Whisper also puts a question mark after fragments said with a rising pitch ("How do I?", "Can you tell me?", the
# head of "Can you tell me … how tall the Eiffel Tower is"): below this many words a question is left to the audio
# (bench/voice/turn_signals.py; bench/voice_loop.py caught "Can you tell me?" cutting a speaker off at four).
MIN_QUESTION_WORDS = 5


def reads_finished(text: str) -> bool:
    """Whisper wrote the words as a whole question: a question mark at the end of at least `MIN_QUESTION_WORDS`
    words. A full stop says nothing: Whisper ends most fragments with one ("I want to know.")."""
    stripped = text.strip().rstrip("\"')")
    words = re.findall(r"[\w']+", stripped)
    return stripped.endswith(QUESTION_MARK) and len(words) >= MIN_QUESTION_WORDS and not sounds_unfinished(stripped)
