"""The bundled model loaded once per session for every role, and an orchestrator around it per test."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from council.llm import ModelRegistry
from council.orchestrator import Orchestrator, open_orchestrator
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
