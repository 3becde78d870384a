"""Ledger invariants over random operation sequences, checked against a plain Python model after every step."""

import asyncio
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from council.kip.errors import IdempotencyKeyReusedError, InsufficientFundsError, InvalidPostingError, KipError
from council.kip.ledger import TREASURY, Posting, TransactionKind, TransactionQuery
from council.kip.stores.base import KipStore
from tests.kip.support import STORE_FACTORIES, ManualClock, new_agent

AGENTS = 3
ACCOUNT_INDEXES = st.integers(0, AGENTS)  # 0 is the treasury
KEYS = st.none() | st.sampled_from([f"key-{n}" for n in range(4)])
AMOUNTS = st.integers(-2, 400)

OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("mint"), st.just(0), st.just(0), AMOUNTS, KEYS),
        st.tuples(st.just("burn"), st.just(0), st.just(0), AMOUNTS, KEYS),
        st.tuples(st.just("transfer"), ACCOUNT_INDEXES, ACCOUNT_INDEXES, AMOUNTS, KEYS),
    ),
    max_size=40,
)


def _posting(operation: tuple[str, int, int, int, str | None], accounts: list[str]) -> Posting:
    kind, source, target, amount, key = operation
    if kind == "mint":
        return Posting(kind=TransactionKind.MINT, source=None, target=TREASURY, amount=amount, idempotency_key=key)
    if kind == "burn":
        return Posting(kind=TransactionKind.BURN, source=TREASURY, target=None, amount=amount, idempotency_key=key)
    return Posting(
        kind=TransactionKind.TRANSFER,
        source=accounts[source],
        target=accounts[target],
        amount=amount,
        idempotency_key=key,
    )


def _expected_error(posting: Posting, model: dict[str, int], keys: dict[str, str]) -> type[KipError] | None:
    if posting.amount <= 0 or posting.source == posting.target:
        return InvalidPostingError
    if posting.idempotency_key in keys:
        return None if keys[posting.idempotency_key] == posting.fingerprint() else IdempotencyKeyReusedError
    if posting.source is not None and model[posting.source] < posting.amount:
        return InsufficientFundsError
    return None


async def _check_sequence(store: KipStore, operations: list[tuple[str, int, int, int, str | None]]) -> None:
    accounts = [TREASURY] + [(await new_agent(store, f"agent{n}")).id for n in range(AGENTS)]
    model = dict.fromkeys(accounts, 0)
    keys: dict[str, str] = {}  # idempotency key -> fingerprint
    originals: dict[str, str] = {}  # idempotency key -> transaction id
    for operation in operations:
        posting = _posting(operation, accounts)
        expected = _expected_error(posting, model, keys)
        if expected is not None:
            with pytest.raises(expected):
                await store.post(posting)
        else:
            receipt = await store.post(posting)
            key = posting.idempotency_key
            assert receipt.replayed == (key in keys)
            if receipt.replayed:
                assert key is not None
                assert receipt.transaction.id == originals[key]
            else:
                if posting.source is not None:
                    model[posting.source] -= posting.amount
                if posting.target is not None:
                    model[posting.target] += posting.amount
                if key is not None:
                    keys[key], originals[key] = posting.fingerprint(), receipt.transaction.id
        balances = await store.balances()
        assert balances == model
        assert min(balances.values()) >= 0
        assert sum(balances.values()) == await store.supply()

    # Every balance is exactly the sum of its legs, and every transfer's legs balance.
    from_legs = dict.fromkeys(accounts, 0)
    page = await store.transactions(TransactionQuery(limit=500))
    for tx in page.items:
        debits = sum(leg.amount for leg in tx.legs if leg.side == "debit")
        credits = sum(leg.amount for leg in tx.legs if leg.side == "credit")
        if tx.kind not in (TransactionKind.MINT, TransactionKind.BURN):
            assert debits == credits == tx.amount
        for leg in tx.legs:
            from_legs[leg.account] += leg.amount if leg.side == "credit" else -leg.amount
    assert from_legs == await store.balances()


@pytest.mark.parametrize("backend", sorted(STORE_FACTORIES))
@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations=OPERATIONS)
def test_random_operation_sequences_keep_every_ledger_invariant(
    backend: str, operations: list[tuple[str, int, int, int, str | None]]
) -> None:
    async def scenario() -> None:
        with tempfile.TemporaryDirectory() as directory:
            store = STORE_FACTORIES[backend](Path(directory), ManualClock())
            await store.open()
            try:
                await _check_sequence(store, operations)
            finally:
                await store.close()

    asyncio.run(scenario())
