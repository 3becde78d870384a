"""Every error the KIP economy raises on purpose, each with its HTTP status and error code."""

from council.errors import CouncilError, ErrorCode


class KipError(CouncilError):
    """Base of the KIP errors: a caller's mistake or a refused operation, never a server fault."""

    status_code = 400
    code = ErrorCode.INVALID_REQUEST


class UnknownAgentError(KipError):
    status_code = 404
    code = ErrorCode.NOT_FOUND


class UnknownAccountError(KipError):
    status_code = 404
    code = ErrorCode.NOT_FOUND


class UnknownConversationError(KipError):
    status_code = 404
    code = ErrorCode.NOT_FOUND


class AgentNameTakenError(KipError):
    status_code = 409
    code = ErrorCode.CONFLICT


class InvalidPostingError(KipError):
    """A movement that can never be valid (zero amount, an account paying itself, ...)."""

    status_code = 422
    code = ErrorCode.INVALID_REQUEST


class InsufficientFundsError(KipError):
    status_code = 409
    code = ErrorCode.INSUFFICIENT_FUNDS


class IdempotencyKeyRequiredError(KipError):
    status_code = 428
    code = ErrorCode.IDEMPOTENCY_KEY_REQUIRED


class IdempotencyKeyReusedError(KipError):
    """The key was already used for a different movement: replaying it would silently do the wrong thing."""

    status_code = 422
    code = ErrorCode.IDEMPOTENCY_KEY_REUSED


class BudgetExceededError(KipError):
    status_code = 409
    code = ErrorCode.BUDGET_EXCEEDED


class AgentPausedError(KipError):
    status_code = 409
    code = ErrorCode.AGENT_PAUSED


class ToolUnavailableError(KipError):
    status_code = 404
    code = ErrorCode.TOOL_UNAVAILABLE


class ToolCallInProgressError(KipError):
    """A replayed tool call whose first run has not finished: there is no result to return yet, and running the tool
    again is what the key forbids. Ask again later."""

    status_code = 409
    code = ErrorCode.TOOL_CALL_IN_PROGRESS


class StorageFullError(CouncilError):
    """The KIP store has no room for a write (SQLITE_FULL: a full disk or a size cap). Not a KipError: it is no
    refusal of the caller's, and the runner must not turn it into a `kip.refused` event. 507, not 503: reads still
    work, so the service is not unavailable; it cannot store this."""

    status_code = 507
    code = ErrorCode.STORAGE_FULL
