"""Thousands of concurrent transfers across many agents, through two connections to one database file."""

import asyncio
import random
from collections import Counter
from pathlib import Path

import pytest

from council.kip.errors import InsufficientFundsError
from council.kip.ledger import TREASURY, Posting, Receipt, TransactionKind, TransactionQuery
from council.kip.stores.sqlite import SqliteKipStore
from tests.kip.support import new_agent

pytestmark = pytest.mark.anyio

AGENTS = 50
TRANSFERS = 4000
RETRIED = 400  # transfers submitted twice, concurrently, under the same idempotency key


async def test_concurrent_transfers_conserve_value_and_never_duplicate(tmp_path: Path) -> None:
    path = tmp_path / "kip.sqlite3"
    # Two stores = two connections on two threads, contending for SQLite's write lock like two processes would.
    first, second = SqliteKipStore(path, durability="normal"), SqliteKipStore(path, durability="normal")
    await first.open()
    await second.open()
    try:
        agents = [(await new_agent(first, f"agent{n}")).id for n in range(AGENTS)]
        await first.post(Posting(kind=TransactionKind.MINT, source=None, target=TREASURY, amount=100_000))
        for agent in agents:
            await first.post(Posting(kind=TransactionKind.FUNDING, source=TREASURY, target=agent, amount=300))
        rng = random.Random(5)  # noqa: S311 - a reproducible workload, not secrets
        postings = []
        for n in range(TRANSFERS):
            source, target = rng.sample(agents, 2)
            postings.append(
                Posting(
                    kind=TransactionKind.TRANSFER,
                    source=source,
                    target=target,
                    amount=rng.randint(1, 150),
                    idempotency_key=f"t-{n}",
                )
            )
        submissions = postings + postings[:RETRIED]
        rng.shuffle(submissions)

        async def submit(index: int, posting: Posting) -> Receipt | None:
            try:
                return await (first if index % 2 else second).post(posting)
            except InsufficientFundsError:
                return None

        receipts = await asyncio.gather(*(submit(i, p) for i, p in enumerate(submissions)))

        balances = await first.balances()
        assert min(balances.values()) >= 0
        assert sum(balances.values()) == await first.supply() == 100_000
        done = [r for r in receipts if r is not None]
        assert len(done) > TRANSFERS // 2  # most transfers were affordable: the test exercised real movement
        recorded: list[str] = []
        after: int | None = None
        while True:
            page = await first.transactions(TransactionQuery(kind=TransactionKind.TRANSFER, after=after, limit=500))
            recorded += [tx.idempotency_key or "" for tx in page.items]
            if page.next_cursor is None:
                break
            after = page.next_cursor
        assert max(Counter(recorded).values()) == 1
        assert len(recorded) == len([r for r in done if not r.replayed])
        # A retry saw either the original (replayed) or was refused exactly like it for lack of funds.
        by_key: dict[str, set[str]] = {}
        for receipt in done:
            by_key.setdefault(receipt.transaction.idempotency_key or "", set()).add(receipt.transaction.id)
        assert all(len(ids) == 1 for ids in by_key.values())
    finally:
        await first.close()
        await second.close()
