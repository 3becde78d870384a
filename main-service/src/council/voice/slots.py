"""How many voice sessions this replica serves at once: each holds two of the voice service's real-time sockets
(listening and speaking), so an unbounded number would exhaust them and starve everyone."""


class SessionSlots:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0

    def take(self) -> bool:
        """One slot, or False when all are taken (no await between look and take: no race on the event loop)."""
        if self.taken >= self.limit:
            return False
        self.taken += 1
        return True

    def give_back(self) -> None:
        self.taken -= 1
