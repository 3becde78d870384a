"""What a message is about: its text folded to compare alike, and its first content words as topic keys.
Pheromind's trails and KIP's recorded decisions both use these keys, so they agree on a topic."""

import re
import unicodedata

_NON_WORD = re.compile(r"[^\w]+")
_STOPWORDS = frozenset(
    [
        "a",
        "about",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "could",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "please",
        "should",
        "so",
        "tell",
        "than",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "this",
        "to",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
    ]
)


def normalize(text: str) -> str:
    """Case, width, punctuation and spacing folded away: "What is Redis?" and "what is  redis" are the same."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("_", " ")
    return " ".join(_NON_WORD.sub(" ", folded).split())


def topics(text: str, limit: int = 3) -> list[str]:
    """The first few content words, as topic keys (no NLP: cheap, explainable, deterministic)."""
    found: list[str] = []
    for word in normalize(text).split():
        if len(word) >= 3 and word not in _STOPWORDS and not word.isdigit() and word not in found:
            found.append(word)
            if len(found) == limit:
                break
    return found
