"""The part of recording a movement whose SQL is PostgreSQL's own: the advisory lock on an idempotency key and the
writes that take the next gapless ledger position (see postgres.py for why each lock is taken)."""

from datetime import datetime

from council.kip.ledger import Leg, Posting, Transaction
from council.kip.stores._postgres_connection import POSTGRES
from council.kip.stores._records import new_id
from council.kip.stores._sql_connection import SqlConnection
from council.kip.stores._sql_rows import MOVEMENT_COLUMNS, movement_values


async def lock_key(conn: SqlConnection, key: str, *, schema: str) -> None:
    """Queue writers of one idempotency key until this transaction ends: a retry then sees the original committed."""
    lock = f"council.kip.key:{schema}:{key}"
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (lock,))


async def append(
    conn: SqlConnection, posting: Posting, fingerprint: str, request_id: str | None, now: datetime
) -> Transaction:
    """Write a checked movement (its accounts locked already): both balances, then its position, row and legs."""
    if posting.source is not None:
        await conn.execute("UPDATE accounts SET balance = balance - %s WHERE id = %s", (posting.amount, posting.source))
    if posting.target is not None:
        await conn.execute("UPDATE accounts SET balance = balance + %s WHERE id = %s", (posting.amount, posting.target))
    legs = [
        Leg(account=account, side=side, amount=posting.amount)
        for account, side in ((posting.source, "debit"), (posting.target, "credit"))
        if account is not None
    ]
    # Last, and in as few statements as possible: the ledger head's row stays locked until this commit.
    head = await conn.fetchone("UPDATE ledger_head SET last_seq = last_seq + 1 RETURNING last_seq")
    assert head is not None
    transaction = Transaction(
        id=new_id("txn"),
        seq=head["last_seq"],
        kind=posting.kind,
        amount=posting.amount,
        source=posting.source,
        target=posting.target,
        reason=posting.reason,
        idempotency_key=posting.idempotency_key,
        request_id=request_id,
        created_at=now,
        legs=legs,
    )
    await conn.execute(
        f"WITH recorded AS (INSERT INTO transactions (seq, id, {MOVEMENT_COLUMNS}, created_at)"  # noqa: S608  # fixed columns
        f" VALUES ({POSTGRES.marks(11)}) RETURNING seq)"
        " INSERT INTO legs (seq, account, side, amount)"
        " SELECT recorded.seq, leg.account, leg.side, leg.amount FROM recorded,"
        " unnest(%s::text[], %s::text[], %s::bigint[]) AS leg (account, side, amount)",
        (
            transaction.seq,
            transaction.id,
            *movement_values(posting, fingerprint, request_id),
            now,
            [leg.account for leg in legs],
            [leg.side for leg in legs],
            [leg.amount for leg in legs],
        ),
    )
    return transaction
