"""Recording one ledger movement in an open PostgreSQL transaction: the row locks that order concurrent writers and
the statements that write it (see postgres.py for why each lock is taken)."""

from datetime import datetime

from council.kip.ledger import Leg, Posting, Receipt, Transaction
from council.kip.stores._ledger_checks import capped_day_start, check_daily_cap, check_funds, check_replay
from council.kip.stores._postgres_rows import Connection, fetch_all, fetch_one, load_transactions, spent_since
from council.kip.stores._records import new_id


async def lock_key(conn: Connection, key: str, *, schema: str) -> None:
    """Queue writers of one idempotency key until this transaction ends: a retry then sees the original committed."""
    lock = f"council.kip.key:{schema}:{key}"
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (lock,))


async def post_in(conn: Connection, posting: Posting, request_id: str | None, now: datetime, *, schema: str) -> Receipt:
    """Record one movement inside the caller's open transaction, or replay the original one for a known key."""
    fingerprint = posting.fingerprint()
    key = posting.idempotency_key
    if key is not None:
        await lock_key(conn, key, schema=schema)
        row = await fetch_one(conn, "SELECT seq, fingerprint FROM transactions WHERE idempotency_key = %s", (key,))
        if row is not None:
            check_replay(row["fingerprint"], fingerprint)
            return Receipt(transaction=(await load_transactions(conn, [row["seq"]]))[0], replayed=True)
    accounts = sorted({account for account in (posting.source, posting.target) if account is not None})
    rows = await fetch_all(
        conn, "SELECT id, balance FROM accounts WHERE id = ANY(%s) ORDER BY id FOR UPDATE", (accounts,)
    )
    check_funds(posting, {row["id"]: row["balance"] for row in rows})
    day_start = capped_day_start(posting, now)
    if day_start is not None:
        assert posting.source is not None  # a capped posting has a source
        check_daily_cap(posting, await spent_since(conn, posting.source, day_start))
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
    head = await fetch_one(conn, "UPDATE ledger_head SET last_seq = last_seq + 1 RETURNING last_seq")
    assert head is not None
    transaction = Transaction(
        id=new_id("txn"),
        seq=head["last_seq"],
        kind=posting.kind,
        amount=posting.amount,
        source=posting.source,
        target=posting.target,
        reason=posting.reason,
        idempotency_key=key,
        request_id=request_id,
        created_at=now,
        legs=legs,
    )
    await conn.execute(
        "WITH recorded AS (INSERT INTO transactions (seq, id, kind, amount, source, target, reason,"
        " idempotency_key, fingerprint, request_id, created_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING seq)"
        " INSERT INTO legs (seq, account, side, amount)"
        " SELECT recorded.seq, leg.account, leg.side, leg.amount FROM recorded,"
        " unnest(%s::text[], %s::text[], %s::bigint[]) AS leg (account, side, amount)",
        (
            transaction.seq,
            transaction.id,
            posting.kind.value,
            posting.amount,
            posting.source,
            posting.target,
            posting.reason,
            key,
            fingerprint,
            request_id,
            now,
            [leg.account for leg in legs],
            [leg.side for leg in legs],
            [leg.amount for leg in legs],
        ),
    )
    return Receipt(transaction=transaction, replayed=False)
