"""Whether a speaker's words so far are a finished turn, as a chat model reads them: the probability of the model's
end-of-message token right after the user's words (text turn detectors work this way: LiveKit's is a small chat
model fine-tuned to predict that token; this one is the bundled SmolLM2, untuned).

The words are read without case or punctuation, as speech-to-text writes them unreliably (Whisper ends most fragments
with a full stop); the trailing "..." that does carry meaning is the voice service's own rule. The chat template's
start (system prompt included) is evaluated once and kept in the context, so a reading evaluates only the words:
about a dozen tokens, tens of milliseconds on 2 cores. `bench/turn_words.py` measures how well it separates
finished utterances from the heads of unfinished ones, beside Smart Turn, and fits the voice service's thresholds.
"""

import asyncio
import ctypes
import re
import threading
from pathlib import Path

import llama_cpp
import numpy as np
from llama_cpp import Llama

from council.llm.embedded import chat_formatter

_MARK = "\x00words\x00"  # stands for the user's words in the rendered template, to split it around them
_CONTEXT_TOKENS = 256  # the template's start and one utterance's words, with room to spare
_MAX_WORDS_CHARS = 400  # a longer utterance is read by its end: the end is what says whether it is finished


def normalized(words: str) -> str:
    """Lower case, letters, digits and apostrophes: the words as any transcript of them would read."""
    return " ".join(re.findall(r"[\w']+", words.lower()))


class WordsEndOfTurn:
    """One llama.cpp context of its own (never the answering pool's: a reading must not wait behind an answer, nor
    evict a conversation's cached prompt), read by one thread at a time."""

    def __init__(self, path: Path, *, threads: int | None = None) -> None:
        self.path = path
        self._llama = Llama(str(path), n_ctx=_CONTEXT_TOKENS, n_threads=threads, verbose=False)
        self._lock = threading.Lock()
        rendered = chat_formatter(self._llama)(messages=[{"role": "user", "content": _MARK}]).prompt
        head, tail = rendered.split(_MARK, 1)
        self._head = self._llama.tokenize(head.encode(), add_bos=False, special=True)
        # The first token after the user's words in a whole message: the end of the message (SmolLM2: <|im_end|>).
        self._end = self._llama.tokenize(tail.encode(), add_bos=False, special=True)[0]
        self._vocabulary = self._llama.n_vocab()
        self._llama.eval(self._head)
        self._closed = False

    def probability(self, words: str) -> float:
        """The model's probability that the user's message ends after `words` (blocking: call off the event loop)."""
        text = normalized(words)[-_MAX_WORDS_CHARS:]
        if not text:
            return 0.0
        with self._lock:  # also keeps `close` from freeing the model under a reading
            if self._closed:
                raise RuntimeError("the words reader is closed")
            tokens = self._llama.tokenize(text.encode(), add_bos=False, special=False)
            self._llama.n_tokens = len(self._head)  # `eval` drops what the context held after the template's start
            self._llama.eval(tokens)
            # Only the last position's logits are computed (logits_all off): read them from llama.cpp directly.
            pointer = llama_cpp.llama_get_logits_ith(self._llama.ctx, -1)
            logits = np.ctypeslib.as_array(ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)), (self._vocabulary,))
            shifted = logits.astype(np.float64) - float(logits.max())
            return float(np.exp(shifted[self._end]) / np.exp(shifted).sum())

    async def read(self, words: str) -> float:
        return await asyncio.to_thread(self.probability, words)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._llama.close()
