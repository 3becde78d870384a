"""The treasury: mints and burns the economy's value and moves it between accounts through the ledger."""

from pydantic import BaseModel, Field

from council.kip.ledger import TREASURY, Posting, Receipt, TransactionKind
from council.kip.stores.base import KipStore


class TreasurySummary(BaseModel):
    treasury: int = Field(description="The treasury's balance.")
    accounts: dict[str, int] = Field(description="Every account's balance, the treasury included.")
    total: int = Field(description="Sum of every balance.")
    supply: int = Field(description="Minted minus burned; equals `total` while the ledger is sound.")


class Treasury:
    def __init__(self, store: KipStore) -> None:
        self._store = store

    async def mint(self, amount: int, *, reason: str = "mint", idempotency_key: str | None = None) -> Receipt:
        return await self._post(TransactionKind.MINT, amount, None, TREASURY, reason, idempotency_key)

    async def burn(self, amount: int, *, reason: str = "burn", idempotency_key: str | None = None) -> Receipt:
        return await self._post(TransactionKind.BURN, amount, TREASURY, None, reason, idempotency_key)

    async def transfer(
        self,
        source: str,
        target: str,
        amount: int,
        *,
        reason: str = "",
        idempotency_key: str | None = None,
        kind: TransactionKind | None = None,
    ) -> Receipt:
        """Move value between two accounts; treasury -> agent counts as funding unless a kind is given."""
        if kind is None:
            kind = TransactionKind.FUNDING if source == TREASURY else TransactionKind.TRANSFER
        return await self._post(kind, amount, source, target, reason, idempotency_key)

    async def _post(
        self,
        kind: TransactionKind,
        amount: int,
        source: str | None,
        target: str | None,
        reason: str,
        idempotency_key: str | None,
    ) -> Receipt:
        posting = Posting(
            kind=kind, amount=amount, source=source, target=target, reason=reason, idempotency_key=idempotency_key
        )
        return await self._store.post(posting)

    async def summary(self) -> TreasurySummary:
        balances = await self._store.balances()
        return TreasurySummary(
            treasury=balances.get(TREASURY, 0),
            accounts=balances,
            total=sum(balances.values()),
            supply=await self._store.supply(),
        )
