"""Per-client caps on this replica's turns: how many one client may have running (waiting included) and how many of
those may wait for a busy thread, so one client can slow itself but never take every turn slot or lock connection."""

import contextlib
from collections import Counter
from collections.abc import Iterator

from council.errors import CouncilError, ErrorCode

RETRY_AFTER_S = 2  # a client's own turns end within a turn's time; it may look again soon


class TooManyTurnsError(CouncilError):
    """The client already has as many turns running, or waiting, as it may."""

    status_code = 429
    code = ErrorCode.TOO_MANY_TURNS

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"Retry-After": str(RETRY_AFTER_S)})


class ClientShares:
    """Counts per client key (`council.ratelimit.client_key`). Per replica, like the lock pool and the turn slots
    they protect: a client spread over R replicas gets at most R times its share, everyone else keeps theirs."""

    def __init__(self, max_turns: int, max_waiting: int) -> None:
        self.max_turns = max_turns
        self.max_waiting = max_waiting
        self.turns: Counter[str] = Counter()
        self.waiting_turns: Counter[str] = Counter()

    def reserve(self, client: str) -> "TurnSlot":
        """Count one more turn of `client` now, at admission (a 429 before anything streams over the cap), so a burst
        admitted at once is refused at its door rather than charged and refused at its start. The slot is given
        back by `TurnSlot.release`, which `Orchestrator.turn` calls when the turn's work has ended."""
        if self.turns[client] >= self.max_turns:
            raise TooManyTurnsError(
                f"You have {self.turns[client]} turns running, the most one client may "
                "(COUNCIL_DELIBERATION__MAX_TURNS_PER_CLIENT); retry when one has answered."
            )
        self.turns[client] += 1
        return TurnSlot(self.turns, client)

    @contextlib.contextmanager
    def waiting(self, client: str) -> Iterator[None]:
        """One of `client`'s turns waiting for a thread another turn holds; TooManyTurnsError over the cap."""
        if self.waiting_turns[client] >= self.max_waiting:
            raise TooManyTurnsError(
                f"You have {self.waiting_turns[client]} turns waiting for busy conversations, the most one client may "
                "(COUNCIL_MEMORY__MAX_WAITING_TURNS_PER_CLIENT); retry when they have answered."
            )
        with _counted(self.waiting_turns, client):
            yield


class TurnSlot:
    """One counted turn of a client; `release` gives it back once (later calls do nothing)."""

    def __init__(self, counter: Counter[str], client: str) -> None:
        self._counter: Counter[str] | None = counter
        self.client = client

    def release(self) -> None:
        counter, self._counter = self._counter, None
        if counter is not None:
            _uncount(counter, self.client)


@contextlib.contextmanager
def _counted(counter: Counter[str], key: str) -> Iterator[None]:
    counter[key] += 1
    try:
        yield
    finally:
        _uncount(counter, key)


def _uncount(counter: Counter[str], key: str) -> None:
    counter[key] -= 1
    if not counter[key]:
        del counter[key]  # the table holds only clients with turns
