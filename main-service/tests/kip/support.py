"""KIP test support: a clock the test controls, the store implementations under contract, agent creation."""

import atexit
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

from council.kip.agents import Agent, AgentCreate
from council.kip.stores.base import KipStore
from council.kip.stores.postgres import PostgresKipStore
from council.kip.stores.sqlite import SqliteKipStore
from council.kip.stores.tigergraph import TigerGraphKipStore
from council.kip.stores.tigergraph_setup import initialize
from council.settings import TigerGraphSettings
from tests.kip.postgres_db import postgres_url
from tests.kip.tigergraph_standin import TigerGraphStandIn


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.moment = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


StoreFactory = Callable[[Path, ManualClock], KipStore]

_standin: TigerGraphStandIn | None = None


def tigergraph_standin() -> TigerGraphStandIn:
    """The one TigerGraph stand-in server of this test run, started on first use and stopped at exit."""
    global _standin
    if _standin is None:
        _standin = TigerGraphStandIn()
        _standin.start()
        atexit.register(_standin.stop)
    return _standin


def tigergraph_settings(standin: TigerGraphStandIn) -> TigerGraphSettings:
    return TigerGraphSettings(
        host=standin.host,
        restpp_port=standin.port,
        gsql_port=standin.port,
        graph=f"kip_{uuid.uuid4().hex[:12]}",
        username=standin.username,
        password=SecretStr(standin.password),
    )


def tigergraph_graph() -> TigerGraphSettings:
    """Settings of a fresh graph of the stand-in, set up (types, graph, queries) by the real init code."""
    standin = tigergraph_standin()
    settings = tigergraph_settings(standin)
    initialize(settings, create_types=not standin.catalog.vertex_attrs)
    return settings


def tigergraph_store(_directory: Path, clock: ManualClock) -> TigerGraphKipStore:
    """A TigerGraph store on a fresh graph of the stand-in."""
    return TigerGraphKipStore(tigergraph_graph(), clock=clock)


def postgres_store(_directory: Path, clock: ManualClock) -> PostgresKipStore:
    """A PostgreSQL store in a fresh schema of this run's database, created by the store's own migrations."""
    return PostgresKipStore(postgres_url(), schema=f"kip_{uuid.uuid4().hex[:12]}", pool_size=4, clock=clock)


# Every KIP store implementation the shared contract suite runs against.
STORE_FACTORIES: dict[str, StoreFactory] = {
    "sqlite": lambda directory, clock: SqliteKipStore(directory / "kip.sqlite3", durability="normal", clock=clock),
    "postgres": postgres_store,
    "tigergraph": tigergraph_store,
}


async def new_agent(
    store: KipStore, name: str, *, capabilities: list[str] | None = None, per_call_cap: int = 10, daily_cap: int = 25
) -> Agent:
    spec = AgentCreate(name=name, role=f"{name} role", capabilities=capabilities or [])
    return await store.create_agent(spec, per_call_cap=per_call_cap, daily_cap=daily_cap)
