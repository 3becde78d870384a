"""A writer killed with SIGKILL mid-run loses no acknowledged transaction and leaves nothing half-written."""

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from council.kip.ledger import TREASURY, Posting, TransactionKind, TransactionQuery
from council.kip.stores.sqlite import SqliteKipStore
from tests.kip.support import new_agent

pytestmark = pytest.mark.anyio

ACKNOWLEDGED_BEFORE_KILL = 300
SERVICE_ROOT = Path(__file__).resolve().parents[2]


def _run_writer_until_killed(path: Path) -> list[str]:
    """Start the writer, let it acknowledge some transactions, SIGKILL it; return every acknowledged id."""
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.kip.crash_writer", str(path)],
        cwd=SERVICE_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    acknowledged: list[str] = []
    try:
        while len(acknowledged) < ACKNOWLEDGED_BEFORE_KILL:
            line = writer.stdout.readline()
            assert line, f"the writer exited early with {writer.poll()}"
            acknowledged.append(line.strip())
        writer.send_signal(signal.SIGKILL)
        tail = writer.stdout.read()
    finally:
        writer.kill()
        writer.wait()
        writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL
    acknowledged += [line for line in tail.split("\n")[:-1] if line]  # a cut-off last line was never acknowledged
    return acknowledged


async def test_sigkilled_writer_keeps_every_acknowledged_transaction(tmp_path: Path) -> None:
    path = tmp_path / "kip.sqlite3"
    store = SqliteKipStore(path)
    await store.open()
    for n in range(8):
        agent = await new_agent(store, f"agent{n}")
        await store.post(Posting(kind=TransactionKind.MINT, source=None, target=TREASURY, amount=1000))
        await store.post(Posting(kind=TransactionKind.FUNDING, source=TREASURY, target=agent.id, amount=1000))
    await store.close()

    acknowledged = _run_writer_until_killed(path)

    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        half_written = raw.execute(
            "SELECT COUNT(*) FROM transactions t WHERE t.kind = 'transfer'"
            " AND (SELECT COUNT(*) FROM legs l WHERE l.seq = t.seq) <> 2"
        ).fetchone()
        assert half_written == (0,)
    raw.close()
    store = SqliteKipStore(path)
    await store.open()
    try:
        present: set[str] = set()
        after: int | None = None
        while True:
            page = await store.transactions(TransactionQuery(after=after, limit=500))
            present |= {tx.id for tx in page.items}
            if page.next_cursor is None:
                break
            after = page.next_cursor
        assert set(acknowledged) <= present
        balances = await store.balances()
        assert min(balances.values()) >= 0
        assert sum(balances.values()) == await store.supply() == 8000
    finally:
        await store.close()
