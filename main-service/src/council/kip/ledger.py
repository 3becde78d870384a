"""The double-entry ledger's vocabulary: postings asked for, transactions recorded, and queries over them."""

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

TREASURY = "treasury"
"""Account id of the treasury; every other account id is an agent id."""

MAX_AMOUNT = 10**12
"""Largest amount or cap in minor units: keeps every sum of balances far inside SQLite's 64-bit integers."""


class TransactionKind(StrEnum):
    MINT = "mint"  # value enters the economy: one credit leg on the treasury
    BURN = "burn"  # value leaves it: one debit leg on the treasury
    FUNDING = "funding"  # treasury -> agent budget
    CHARGE = "charge"  # agent -> treasury for a metered tool call
    REWARD = "reward"  # treasury or agent -> agent for useful work (counts as earnings)
    TRANSFER = "transfer"  # any other movement between accounts


class Leg(BaseModel):
    account: str
    side: Literal["debit", "credit"]
    amount: int = Field(gt=0)


class Transaction(BaseModel):
    id: str
    seq: int = Field(description="Monotonic position in the ledger (the paging cursor).")
    kind: TransactionKind
    amount: int = Field(gt=0, description="Integer minor units.")
    source: str | None = Field(description="Debited account; null for a mint.")
    target: str | None = Field(description="Credited account; null for a burn.")
    reason: str
    idempotency_key: str | None
    request_id: str | None
    created_at: datetime
    legs: list[Leg]


class Posting(BaseModel):
    """A movement to record. `daily_cap` makes the store refuse it if the source agent's spend today would pass it."""

    kind: TransactionKind
    amount: int
    source: str | None
    target: str | None
    reason: str = ""
    idempotency_key: str | None = None
    daily_cap: int | None = None

    def fingerprint(self) -> str:
        """What a replay with the same idempotency key must match."""
        return f"{self.kind}|{self.source}|{self.target}|{self.amount}|{self.reason}"


class Receipt(BaseModel):
    transaction: Transaction
    replayed: bool = Field(description="True when the idempotency key was seen before and nothing moved.")


class TransactionQuery(BaseModel):
    account: str | None = None
    kind: TransactionKind | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: int | None = Field(
        None, ge=0, le=2**62, description="Return transactions with seq greater than this cursor."
    )
    limit: int = Field(50, ge=1, le=500)


class TransactionPage(BaseModel):
    items: list[Transaction]
    next_cursor: int | None = Field(description="Pass as `after` for the next page; null on the last page.")


class AgentActivity(BaseModel):
    """One agent's economics over a window, aggregated from the ledger and its tool calls."""

    agent_id: str
    spent: int = 0
    earned: int = 0
    funded: int = 0
    calls: int = 0
    successes: int = 0
