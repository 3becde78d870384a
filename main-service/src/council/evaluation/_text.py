"""How the scorer reads an answer: the final answer line, answer normalization, numbers, words, bullets.

These rules are the contract `docs/eval.md` documents; a change here changes every score, so change both.
"""

import json
import re
import unicodedata
from fractions import Fraction

# "Answer: Paris", "**Final answer:** 42", "- answer: x": any non-word prefix, then the label and a colon
# (or the full-width colon U+FF1A).
_ANSWER_LINE = re.compile(r"^[^\w\n]*(?:final\s+)?answer\s*[:\uff1a](.*)$", re.IGNORECASE | re.MULTILINE)

# Thousands separators ("1,234,567") are dropped before anything else reads digits.
_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")

# A number: optional minus ("-" or U+2212, not after a word character, so "3-4" is 3 and 4), digits, then a decimal part or a
# fraction denominator. Not after a word character or a point, so "x2" and the "5" of ".5" are no numbers.
_NUMBER = re.compile(r"(?<![\w.])(?P<sign>[-\u2212])?(?P<whole>\d+)(?:\.(?P<decimals>\d+)|/(?P<denominator>\d+))?")

_BULLET_LINE = re.compile(r"^[ \t]*[-*+•][ \t]+\S")

_CODE_FENCE = re.compile(r"\A\s*```[\w+-]*[ \t]*\n(?P<body>.*?)\n?[ \t]*```\s*\Z", re.DOTALL)

_ARTICLES = frozenset({"a", "an", "the"})


def final_answer_line(text: str) -> str | None:
    """What follows the last "Answer:" label, or the next non-empty line when the label stands alone; else None."""
    matches = list(_ANSWER_LINE.finditer(text))
    if not matches:
        return None
    last = matches[-1]
    same_line = last.group(1).strip().strip("*_").strip()  # "**Answer:** 42" leaves "** 42" otherwise
    if same_line:
        return same_line
    following = (line.strip().strip("*_").strip() for line in text[last.end() :].splitlines())
    return next((line for line in following if line), None)


def normalize_answer(text: str) -> str:
    """Case-folded, accents removed, punctuation and symbols turned into spaces, articles dropped, spaces collapsed.

    A decimal point between digits survives ("3.5" stays "3.5") and thousands separators go ("1,000" is "1000"),
    so numbers written either way compare equal.
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    unaccented = "".join(char for char in decomposed if not unicodedata.combining(char))
    digits_joined = _THOUSANDS_COMMA.sub("", unaccented)
    kept: list[str] = []
    for index, char in enumerate(digits_joined):
        is_decimal_point = (
            char == "."
            and 0 < index < len(digits_joined) - 1
            and digits_joined[index - 1].isdigit()
            and digits_joined[index + 1].isdigit()
        )
        punctuation_or_symbol = unicodedata.category(char)[0] in "PS"
        kept.append(" " if punctuation_or_symbol and not is_decimal_point else char)
    words = "".join(kept).split()
    return " ".join(word for word in words if word not in _ARTICLES)


def numbers(text: str) -> list[Fraction]:
    """Every number in the text, in order, as exact fractions ("-1,234.5" → -2469/2, "3/4" → 3/4)."""
    found: list[Fraction] = []
    for match in _NUMBER.finditer(_THOUSANDS_COMMA.sub("", text)):
        denominator = match["denominator"]
        if denominator is not None and int(denominator) == 0:
            continue  # "1/0" is no number
        if denominator is not None:
            value = Fraction(int(match["whole"]), int(denominator))
        elif match["decimals"] is not None:
            value = Fraction(f"{match['whole']}.{match['decimals']}")
        else:
            value = Fraction(int(match["whole"]))
        found.append(-value if match["sign"] else value)
    return found


def answer_number(text: str) -> Fraction | None:
    """The last number of the final answer line if it holds one, else the last number of the whole text."""
    line = final_answer_line(text)
    for source in (line, text):
        if source is not None and (found := numbers(source)):
            return found[-1]
    return None


def count_words(text: str) -> int:
    """Whitespace-separated tokens that hold a letter or digit (a lone "-" bullet marker is no word)."""
    return sum(1 for token in text.split() if any(char.isalnum() for char in token))


def bullet_lines(text: str) -> list[str]:
    """Lines that start (after indentation) with "-", "*", "+" or "•" and a space; numbered lines are not bullets."""
    return [line for line in text.splitlines() if _BULLET_LINE.match(line)]


def without_code_fence(text: str) -> str:
    """The body of a single fenced block that is the whole text (```json … ```), else the text unchanged."""
    fenced = _CODE_FENCE.match(text)
    return fenced["body"] if fenced else text


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def strict_json(text: str) -> object:
    """`json.loads` without Python's extensions: NaN, Infinity and -Infinity are refused as JSON refuses them."""
    return json.loads(text, parse_constant=_reject_constant)
