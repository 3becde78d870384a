"""The bundled model's reading of a speaker's words: the probability that the user's message ends there."""

import threading
from pathlib import Path

import pytest

from council.llm.embedded import bundled_gguf
from council.llm.end_of_turn import WordsEndOfTurn, normalized


@pytest.fixture(scope="module")
def reader() -> WordsEndOfTurn:
    return WordsEndOfTurn(bundled_gguf(), threads=1)


def test_words_are_read_without_case_or_punctuation() -> None:
    assert normalized("  What's the capital of France?! ") == "what's the capital of france"
    assert normalized("...") == ""


def test_finished_questions_read_as_far_likelier_to_end_than_the_heads_of_sentences(reader: WordsEndOfTurn) -> None:
    # bench/turn_words.py measures this on the bench's utterances; here, the pairs the voice loop cut off.
    finished = ["What is the capital of France?", "Give me a recipe for pancakes.", "Tell me a joke about cats."]
    heads = ["Can you tell me", "Could you compare", "I want to know"]
    least_finished = min(reader.probability(words) for words in finished)
    most_unfinished = max(reader.probability(words) for words in heads)
    assert least_finished > 100 * most_unfinished


def test_a_reading_does_not_depend_on_the_one_before(reader: WordsEndOfTurn) -> None:
    # The context keeps the template's start and drops each reading's words: no reading sees another's.
    first = reader.probability("What is the capital of France?")
    reader.probability("So the thing is my laptop keeps crashing and I do not know why")
    assert reader.probability("What is the capital of France?") == pytest.approx(first, rel=1e-4)
    assert reader.probability("") == 0.0


def test_readings_from_many_threads_at_once_each_get_their_own_answer(reader: WordsEndOfTurn) -> None:
    words = ["What is the capital of France?", "Can you tell me"]
    alone = {w: reader.probability(w) for w in words}
    results: list[tuple[str, float]] = []

    def read(w: str) -> None:
        results.append((w, reader.probability(w)))

    threads = [threading.Thread(target=read, args=(words[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 8
    for w, probability in results:
        assert probability == pytest.approx(alone[w], rel=1e-4)


def test_a_file_that_is_no_model_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="Failed to load model"):
        WordsEndOfTurn(broken)


def test_a_closed_reader_refuses_to_read() -> None:
    reader = WordsEndOfTurn(bundled_gguf(), threads=1)
    reader.close()
    with pytest.raises(RuntimeError, match="closed"):
        reader.probability("What is the capital of France?")
