"""What the PostgreSQL store adds to the shared contract: migrations, invariants held by the database itself, and
many writer processes at once. The contract, property, tool and conversation suites run against it too
(STORE_FACTORIES)."""

import asyncio
import json
import sys
import uuid
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from council.kip import open_kip
from council.kip.ledger import TREASURY, Posting, TransactionKind, TransactionQuery
from council.kip.stores._postgres_schema import LATEST_VERSION, SCHEMA_VERSION_TABLE, SchemaTooNewError
from council.kip.stores.postgres import PostgresKipStore
from council.settings import KipSettings
from tests.kip.postgres_db import postgres_url
from tests.kip.support import new_agent

pytestmark = pytest.mark.anyio

SERVICE_ROOT = Path(__file__).resolve().parents[2]


def fresh_schema() -> str:
    return f"kip_{uuid.uuid4().hex[:12]}"


def recorded_versions(schema: str) -> list[int]:
    with psycopg.connect(postgres_url()) as conn:
        rows = conn.execute(
            sql.SQL("SELECT version FROM {} ORDER BY version").format(sql.Identifier(schema, SCHEMA_VERSION_TABLE))
        ).fetchall()
    return [row[0] for row in rows]


async def test_migrations_run_once_and_record_the_schema_version() -> None:
    schema = fresh_schema()
    first = PostgresKipStore(postgres_url(), schema=schema)
    await first.open()
    agent = await new_agent(first, "kept")
    await first.close()

    # Replicas starting together against the same database: each migration still runs exactly once.
    again = [PostgresKipStore(postgres_url(), schema=schema) for _ in range(4)]
    await asyncio.gather(*(store.open() for store in again))
    try:
        assert (await again[0].get_agent(agent.id)).name == "kept"
        assert recorded_versions(schema) == list(range(1, LATEST_VERSION + 1))
    finally:
        await asyncio.gather(*(store.close() for store in again))


async def test_a_fresh_schema_migrated_by_replicas_starting_together_is_created_once() -> None:
    schema = fresh_schema()
    stores = [PostgresKipStore(postgres_url(), schema=schema) for _ in range(4)]
    await asyncio.gather(*(store.open() for store in stores))
    try:
        assert recorded_versions(schema) == list(range(1, LATEST_VERSION + 1))
        assert await stores[1].balances() == {TREASURY: 0}
    finally:
        await asyncio.gather(*(store.close() for store in stores))


async def test_a_schema_from_a_newer_release_is_refused() -> None:
    schema = fresh_schema()
    store = PostgresKipStore(postgres_url(), schema=schema)
    await store.open()
    await store.close()
    with psycopg.connect(postgres_url(), autocommit=True) as conn:
        table = sql.Identifier(schema, SCHEMA_VERSION_TABLE)
        conn.execute(sql.SQL("INSERT INTO {} (version) VALUES (%s)").format(table), (LATEST_VERSION + 1,))

    with pytest.raises(SchemaTooNewError, match="newer than this release"):
        await PostgresKipStore(postgres_url(), schema=schema).open()


@pytest.mark.parametrize(
    ("statement", "error"),
    [
        ("UPDATE accounts SET balance = balance - 1 WHERE id = 'treasury'", psycopg.errors.CheckViolation),
        (
            "INSERT INTO transactions (seq, id, kind, amount, source, target, reason, idempotency_key, fingerprint,"
            " created_at) SELECT seq + 1, 'txn_copy', kind, amount, source, target, reason, idempotency_key,"
            " fingerprint, created_at FROM transactions",
            psycopg.errors.UniqueViolation,
        ),
        ("UPDATE transactions SET source = target", psycopg.errors.CheckViolation),
        ("UPDATE legs SET account = 'nobody'", psycopg.errors.ForeignKeyViolation),
    ],
)
async def test_the_database_itself_refuses_writes_that_break_a_ledger_invariant(
    statement: str, error: type[Exception]
) -> None:
    schema = fresh_schema()
    store = PostgresKipStore(postgres_url(), schema=schema)
    await store.open()
    try:
        agent = await new_agent(store, "a")
        await store.post(
            Posting(kind=TransactionKind.MINT, source=None, target=TREASURY, amount=5, idempotency_key="m")
        )
        await store.post(Posting(kind=TransactionKind.FUNDING, source=TREASURY, target=agent.id, amount=5))
    finally:
        await store.close()
    # Not through the store: straight SQL, as a buggy writer or an operator's script would.
    with psycopg.connect(postgres_url(), options=f"-c search_path={schema}") as conn, pytest.raises(error):
        conn.execute(statement)  # type: ignore[arg-type]  # fixed test statements


async def test_writer_processes_posting_the_same_keys_at_once_apply_each_once_and_conserve_value() -> None:
    schema = fresh_schema()
    store = PostgresKipStore(postgres_url(), schema=schema)
    await store.open()
    try:
        agents = [(await new_agent(store, f"agent{n}")).id for n in range(12)]
        await store.post(Posting(kind=TransactionKind.MINT, source=None, target=TREASURY, amount=10_000))
        for agent in agents:
            await store.post(Posting(kind=TransactionKind.FUNDING, source=TREASURY, target=agent, amount=300))
        keys, processes = 300, 4
        writers = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.kip.postgres_writer",
                postgres_url(),
                schema,
                str(seed),
                str(keys),
                cwd=SERVICE_ROOT,
                stdout=asyncio.subprocess.PIPE,
            )
            for seed in range(processes)
        ]
        outputs = [out.decode() for out, _ in await asyncio.gather(*(w.communicate() for w in writers))]
        assert [writer.returncode for writer in writers] == [0] * processes

        results = [json.loads(line) for output in outputs for line in output.splitlines()]
        assert len(results) == keys * processes
        ids_by_key: dict[str, set[str]] = {}
        for result in results:
            if result["id"] is not None:
                ids_by_key.setdefault(result["key"], set()).add(result["id"])
        assert all(len(ids) == 1 for ids in ids_by_key.values()), "a key applied twice"
        applied = [r for r in results if r["id"] is not None and not r["replayed"]]
        assert len(applied) == len(ids_by_key), "each applied key has exactly one non-replayed receipt"
        assert len(applied) > keys // 2  # most transfers were affordable: real movement under contention

        balances = await store.balances()
        assert min(balances.values()) >= 0
        assert sum(balances.values()) == await store.supply() == 10_000
        page = await store.transactions(TransactionQuery(limit=500))
        ledger = list(page.items)
        while page.next_cursor is not None:
            page = await store.transactions(TransactionQuery(after=page.next_cursor, limit=500))
            ledger += page.items
        assert [tx.seq for tx in ledger] == list(range(1, len(ledger) + 1)), "ledger positions are gapless"
        transfers = Counter(tx.idempotency_key for tx in ledger if tx.kind is TransactionKind.TRANSFER)
        assert set(transfers) == set(ids_by_key)
        assert max(transfers.values()) == 1
    finally:
        await store.close()


async def test_the_registry_opens_the_postgres_store_and_readiness_names_it() -> None:
    settings = KipSettings(store="postgres", postgres_url=postgres_url(), postgres_schema=fresh_schema())
    async with open_kip(settings) as kip:
        assert isinstance(kip.store, PostgresKipStore)
        check = await kip.readiness_check()
        assert check.status.value == "pass"
        assert check.observed == {"backend": "postgres"}


async def test_the_postgres_store_needs_its_url() -> None:
    with pytest.raises(ValueError, match="COUNCIL_KIP__POSTGRES_URL"):
        async with open_kip(KipSettings(store="postgres")):
            pass
