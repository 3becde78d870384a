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
