"""Word error rate with Whisper-style English normalization (lower case, no punctuation, numbers as words)."""

import re

_NUMBERS = {"0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six", "7": "seven",
            "8": "eight", "9": "nine", "10": "ten", "12": "twelve"}  # fmt: skip


def normalize(text: str) -> list[str]:
    text = re.sub(r"[^\w\s']", " ", text.lower()).replace("'", "")
    return [_NUMBERS.get(word, word) for word in text.split()]


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    errors = words = 0
    for reference, hypothesis in zip(references, hypotheses, strict=True):
        ref, hyp = normalize(reference), normalize(hypothesis)
        row = list(range(len(hyp) + 1))
        for i, ref_word in enumerate(ref, start=1):
            previous, row[0] = row[0], i
            for j, hyp_word in enumerate(hyp, start=1):
                previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ref_word != hyp_word))
        errors += row[-1]
        words += len(ref)
    return errors / max(words, 1)
