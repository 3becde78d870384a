"""The bundled model loaded once per session for every role, and an orchestrator around it per test."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from council.auth import LOCAL, Caller
from council.llm import ModelRegistry
from council.orchestrator import FinalEvent, Orchestrator, open_orchestrator
from council.orchestrator.service import council_roles
from council.settings import Settings


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def models() -> Iterator[ModelRegistry]:
    settings = Settings(_env_file=None, llm={"max_tokens": 8, "pool_size": 3})
    registry = ModelRegistry.from_settings(settings.llm, settings.deliberation.roles, council_roles(settings))
    yield registry
    for pool in registry.pools:
        pool.close()


def orchestrator_settings(tmp_path: Path, **council: object) -> Settings:
    return Settings(_env_file=None, memory={"data_dir": tmp_path}, deliberation=council)


@pytest.fixture
async def orchestrator(models: ModelRegistry, tmp_path: Path) -> AsyncIterator[Orchestrator]:
    async with open_orchestrator(orchestrator_settings(tmp_path), models=models) as opened:
        yield opened


async def ask(
    orchestrator: Orchestrator, message: str, thread_id: str | None = None, caller: Caller = LOCAL
) -> FinalEvent:
    """One turn through the one way in (admit, then answer): on the caller's thread, or a new one (its ID minted by
    the orchestrator, in `final.thread_id`)."""
    return await orchestrator.answer(await orchestrator.admit(message, caller=caller, thread_id=thread_id))


def thread_of(final: FinalEvent) -> str:
    assert final.thread_id is not None, "a stateful turn names its thread"
    return final.thread_id
