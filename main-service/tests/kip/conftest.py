"""KIP fixtures: a real store of each implementation in a temporary directory, with a controlled clock."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from council.kip import Kip, build_kip
from council.kip.stores.base import KipStore
from council.settings import KipSettings
from tests.kip.support import STORE_FACTORIES, ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=sorted(STORE_FACTORIES))
async def store(request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock) -> AsyncIterator[KipStore]:
    instance = STORE_FACTORIES[request.param](tmp_path, clock)
    await instance.open()
    try:
        yield instance
    finally:
        await instance.close()


@pytest.fixture
def kip_settings() -> KipSettings:
    return KipSettings(default_per_call_cap=10, default_daily_cap=25, tool_price=2)


@pytest.fixture
def kip(store: KipStore, kip_settings: KipSettings) -> Kip:
    return build_kip(kip_settings, store)
