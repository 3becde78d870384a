"""KIP as the rest of the service uses it: one `Kip` built around one store, opened from settings at startup and
closed at shutdown."""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from council.health import Check, HealthStatus
from council.kip.analyzer import EconomicAnalyzer
from council.kip.budgets import AgentBudgets
from council.kip.builtin_tools import builtin_tools
from council.kip.runner import AgentRunner
from council.kip.stores.base import KipStore
from council.kip.stores.sqlite import DATABASE_FILE, SqliteKipStore
from council.kip.tools import ToolRegistry
from council.kip.treasury import Treasury
from council.settings import KipSettings


@dataclass(frozen=True)
class Kip:
    """Everything KIP offers, built around one store."""

    settings: KipSettings
    store: KipStore
    treasury: Treasury
    budgets: AgentBudgets
    tools: ToolRegistry
    analyzer: EconomicAnalyzer
    runner: AgentRunner

    async def readiness_check(self) -> Check:
        try:
            await self.store.ping()
        except Exception as error:  # any failure to answer is "not ready"; the reason goes to the probe
            return Check("kip", HealthStatus.FAIL, f"{type(error).__name__}: {error}", component_type="datastore")
        return Check("kip", HealthStatus.PASS, component_type="datastore", observed={"backend": self.store.backend})


def build_kip(settings: KipSettings, store: KipStore) -> Kip:
    budgets = AgentBudgets(store)
    tools = ToolRegistry(store, budgets, builtin_tools(settings))
    return Kip(
        settings=settings,
        store=store,
        treasury=Treasury(store),
        budgets=budgets,
        tools=tools,
        analyzer=EconomicAnalyzer(store),
        runner=AgentRunner(store, tools),
    )


@contextlib.asynccontextmanager
async def open_kip(settings: KipSettings) -> AsyncIterator[Kip]:
    store: KipStore
    if settings.store == "tigergraph":
        from council.kip.stores.tigergraph import TigerGraphKipStore

        store = TigerGraphKipStore(settings.tigergraph)
    elif settings.store == "postgres":
        from council.kip.stores.postgres import PostgresKipStore

        if settings.postgres_url is None:
            raise ValueError("COUNCIL_KIP__POSTGRES_URL must be set when COUNCIL_KIP__STORE=postgres.")
        store = PostgresKipStore(
            settings.postgres_url.get_secret_value(),
            schema=settings.postgres_schema,
            pool_size=settings.postgres_pool_size,
        )
    else:
        store = SqliteKipStore(
            settings.data_dir / DATABASE_FILE, busy_timeout_s=settings.busy_timeout_s, durability=settings.durability
        )
    await store.open()
    try:
        yield build_kip(settings, store)
    finally:
        await store.close()
