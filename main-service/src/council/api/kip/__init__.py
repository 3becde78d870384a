"""KIP REST under `/api/kip` (mutations need the key), one module per resource: agents with their tools and runs
(`agents`), the money (`ledger`: treasury, transfers, transactions, analysis) and what the council knows
(`knowledge`: knowledge items, decisions, the conversation graph)."""

from fastapi import APIRouter

from council.api.deps import RequireAdmin
from council.api.kip import agents, knowledge, ledger
from council.api.responses import ErrorEnvelope, Responses

_ERRORS: Responses = {
    status_code: {"model": ErrorEnvelope, "description": description}
    for status_code, description in {
        400: "Malformed JSON.",
        401: "Keys are configured and the request carries none, or an unknown one.",
        403: "A client key: KIP needs the admin key (COUNCIL_AUTH__API_KEY).",
        404: "Unknown agent, account or recorded conversation.",
        409: "Insufficient funds, over budget, paused agent, or a taken agent name.",
        507: "The KIP database has no room for the write (`storage_full`); reads still work.",
        422: "Invalid body or query, or an Idempotency-Key reused for a different movement.",
        428: "A transfer without an Idempotency-Key header.",
    }.items()
}

# All of KIP is the operator's: agents spend, the treasury mints, and decisions and the conversation graph come from
# everyone's threads. With keys configured it needs the admin key (a client key gets 403).
router = APIRouter(prefix="/api/kip", tags=["kip"], responses=_ERRORS, dependencies=[RequireAdmin])
for resource in (agents, ledger, knowledge):
    router.include_router(resource.router)
