"""How many voice sessions this replica serves at once, and how many of them one client may hold: each holds two of the
voice service's real-time sockets (listening and speaking), so an unbounded number would exhaust them and starve
everyone, and without a per-client cap one client could hold them all. Every voice surface (`/ws/voice`,
`/v1/realtime`) takes its slot here, under the client's key (`council.ratelimit.client_key`), so they share the caps."""

from collections import Counter

from council.errors import CouncilError, ErrorCode
from council.settings import VoiceSocketSettings

RETRY_AFTER_S = 5  # a full house frees up as conversations end: retry soon
_PER_CLIENT_DEFAULT: int = VoiceSocketSettings.model_fields["max_sessions_per_client"].default


class TooManySessionsError(CouncilError):
    """Every slot is taken, or the client holds as many as it may: the handshake is refused with 429."""

    status_code = 429
    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"Retry-After": str(RETRY_AFTER_S)})


class SessionSlots:
    def __init__(self, limit: int, per_client: int = _PER_CLIENT_DEFAULT) -> None:
        self.limit = limit
        self.per_client = per_client
        self.held: Counter[str] = Counter()

    @property
    def taken(self) -> int:
        return self.held.total()

    def take(self, client: str) -> None:
        """One slot for `client`, to `give_back` when its session ends; TooManySessionsError when all are taken or the
        client holds its share (no await between look and take: no race on the event loop)."""
        if self.held[client] >= self.per_client:
            raise TooManySessionsError(
                f"You have {self.held[client]} voice sessions open, the most one client may "
                "(COUNCIL_VOICE_WS__MAX_SESSIONS_PER_CLIENT). Close one, or try again shortly."
            )
        if self.taken >= self.limit:
            raise TooManySessionsError(
                f"Too many voice sessions: {self.limit} are open (COUNCIL_VOICE_WS__MAX_SESSIONS). Try again shortly."
            )
        self.held[client] += 1

    def give_back(self, client: str) -> None:
        self.held[client] -= 1
        if not self.held[client]:
            del self.held[client]
