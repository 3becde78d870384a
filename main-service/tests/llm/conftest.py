"""The bundled GGUF loaded once for the whole session (a pool of two contexts)."""

from collections.abc import Iterator

import pytest

from council.llm.embedded import LlamaPool, bundled_gguf


@pytest.fixture(scope="session")
def pool() -> Iterator[LlamaPool]:
    llama_pool = LlamaPool(bundled_gguf(), size=2, context_tokens=1024, threads=1)
    yield llama_pool
    llama_pool.close()
