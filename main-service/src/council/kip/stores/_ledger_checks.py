"""The checks a SQL store makes before it records a movement, on what it read inside the write transaction."""

from collections.abc import Mapping
from datetime import UTC, datetime

from council.kip.errors import (
    BudgetExceededError,
    IdempotencyKeyReusedError,
    InsufficientFundsError,
    UnknownAccountError,
)
from council.kip.ledger import TREASURY, Posting


def check_replay(stored_fingerprint: str, posting_fingerprint: str) -> None:
    """A known idempotency key replays its movement only for the same movement."""
    if stored_fingerprint != posting_fingerprint:
        raise IdempotencyKeyReusedError(
            "This Idempotency-Key was already used for a different movement; use a new key."
        )


def check_funds(posting: Posting, balances: Mapping[str, int]) -> None:
    """Both accounts exist (`balances` holds those found) and the source holds the amount."""
    for account in (posting.source, posting.target):
        if account is not None and account not in balances:
            raise UnknownAccountError(
                f"No account {account!r}: use 'treasury' or an agent id from GET /api/kip/agents."
            )
    if posting.source is not None and balances[posting.source] < posting.amount:
        raise InsufficientFundsError(
            f"Account {posting.source!r} holds {balances[posting.source]}, {posting.amount} needed."
        )


def capped_day_start(posting: Posting, now: datetime) -> datetime | None:
    """The start (UTC midnight) of the day whose spending the posting's daily cap bounds; None if none does."""
    if posting.daily_cap is None or posting.source in (None, TREASURY):
        return None
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def check_daily_cap(posting: Posting, spent: int) -> None:
    if posting.daily_cap is not None and spent + posting.amount > posting.daily_cap:
        raise BudgetExceededError(
            f"Agent {posting.source!r} spent {spent} today; {posting.amount} more passes its daily cap "
            f"of {posting.daily_cap}."
        )
