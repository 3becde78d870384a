"""KIP REST: agents, treasury, transfers, the ledger, analysis, knowledge, the conversation graph and agent runs
(mutations need the key)."""

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from council.api.deps import KipDep, RequireAdmin
from council.api.responses import ErrorEnvelope
from council.errors import ErrorCode
from council.kip import AgentRequest, KipEvent
from council.kip.agents import Agent, AgentCreate, AgentPatch
from council.kip.analyzer import EconomyAnalysis
from council.kip.conversations import MAX_THREAD_ID_CHARS, ConversationGraph
from council.kip.errors import IdempotencyKeyRequiredError, ToolCallInProgressError
from council.kip.knowledge import DecisionCreate, KnowledgeCreate, KnowledgeItem, KnowledgeKind, KnowledgeQuery
from council.kip.ledger import MAX_AMOUNT, Receipt, TransactionKind, TransactionPage, TransactionQuery
from council.kip.runner import AgentRefused
from council.kip.treasury import TreasurySummary

_ERRORS: dict[int | str, dict[str, Any]] = {
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
# A repeated Idempotency-Key answers 200 with the original receipt (and `Idempotent-Replayed: true`) instead of 201.
_REPLAYED: dict[int | str, dict[str, Any]] = {
    200: {"model": Receipt, "description": "A replayed Idempotency-Key: the original movement; nothing moved again."}
}

Amount = Annotated[int, Field(gt=0, le=MAX_AMOUNT, strict=True, description="Integer minor units.")]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
REPLAY_HEADER = "Idempotent-Replayed"


class AgentList(BaseModel):
    agents: list[Agent]


class MintRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Amount
    reason: str = Field("mint", max_length=500)


class TransferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str = Field(alias="from", min_length=1, max_length=100, description='"treasury" or an agent id.')
    target: str = Field(alias="to", min_length=1, max_length=100, description='"treasury" or an agent id.')
    amount: Amount
    reason: str = Field("", max_length=500)
    kind: TransactionKind | None = Field(
        None, description="funding, charge, reward or transfer; default funding from the treasury, else transfer."
    )


class ToolInfo(BaseModel):
    name: str
    description: str
    price: int
    network: bool


class RunResult(BaseModel):
    events: list[KipEvent]


def _receipt(receipt: Receipt, response: Response) -> Receipt:
    if receipt.replayed:
        response.status_code = status.HTTP_200_OK
        response.headers[REPLAY_HEADER] = "true"
    return receipt


@router.get("/agents", summary="List agents with their balances")
async def list_agents(kip: KipDep) -> AgentList:
    return AgentList(agents=await kip.store.list_agents())


@router.post("/agents", status_code=201, summary="Create an agent (balance 0)")
async def create_agent(spec: AgentCreate, kip: KipDep) -> Agent:
    per_call = kip.settings.default_per_call_cap if spec.per_call_cap is None else spec.per_call_cap
    daily = kip.settings.default_daily_cap if spec.daily_cap is None else spec.daily_cap
    return await kip.store.create_agent(spec, per_call_cap=per_call, daily_cap=daily)


@router.get("/agents/{agent_id}", summary="One agent")
async def get_agent(agent_id: str, kip: KipDep) -> Agent:
    return await kip.store.get_agent(agent_id)


@router.patch("/agents/{agent_id}", summary="Change an agent (pause, caps, tools)")
async def update_agent(agent_id: str, patch: AgentPatch, kip: KipDep) -> Agent:
    return await kip.store.update_agent(agent_id, patch)


@router.post(
    "/treasury/mint",
    status_code=201,
    responses=_REPLAYED,
    summary="Add value to the treasury",
)
async def mint(body: MintRequest, kip: KipDep, response: Response, idempotency_key: IdempotencyKey = None) -> Receipt:
    return _receipt(await kip.treasury.mint(body.amount, reason=body.reason, idempotency_key=idempotency_key), response)


@router.post(
    "/treasury/burn",
    status_code=201,
    responses=_REPLAYED,
    summary="Remove treasury value",
)
async def burn(body: MintRequest, kip: KipDep, response: Response, idempotency_key: IdempotencyKey = None) -> Receipt:
    return _receipt(await kip.treasury.burn(body.amount, reason=body.reason, idempotency_key=idempotency_key), response)


@router.post(
    "/transfers",
    status_code=201,
    responses=_REPLAYED,
    summary="Move value between accounts",
)
async def create_transfer(
    body: TransferRequest, kip: KipDep, response: Response, idempotency_key: IdempotencyKey = None
) -> Receipt:
    if not idempotency_key:
        raise IdempotencyKeyRequiredError("A transfer needs an `Idempotency-Key` header (e.g. a UUID per intent).")
    receipt = await kip.treasury.transfer(
        body.source, body.target, body.amount, reason=body.reason, idempotency_key=idempotency_key, kind=body.kind
    )
    return _receipt(receipt, response)


@router.get("/treasury", summary="Balances of the treasury and every agent, and their total")
async def get_treasury(kip: KipDep) -> TreasurySummary:
    return await kip.treasury.summary()


@router.get("/transactions", summary="The ledger, oldest first, paged with `after`")
async def list_transactions(kip: KipDep, query: Annotated[TransactionQuery, Query()]) -> TransactionPage:
    return await kip.store.transactions(query)


@router.get("/analysis", summary="Per-agent spend, earnings, ROI, success rate and funding advice")
async def get_analysis(kip: KipDep, window_hours: Annotated[float, Query(gt=0, le=24 * 366)] = 24.0) -> EconomyAnalysis:
    return await kip.analyzer.analyze(timedelta(hours=window_hours))


@router.get("/tools", summary="Tools agents may be given, with their prices")
async def list_tools(kip: KipDep) -> list[ToolInfo]:
    return [
        ToolInfo(name=tool.name, description=tool.description, price=tool.price, network=tool.network)
        for tool in (kip.tools.get(name) for name in kip.tools.names())
    ]


@router.post(
    "/agents/{agent_id}/runs",
    responses={
        200: {
            "description": "The run's events; a refusal is a `kip.refused` event, nothing charged. A repeated"
            " `idempotency_key` answers the first run's body again, 200, without running the tool or charging."
        },
        409: {
            "model": ErrorEnvelope,
            "description": "`tool_call_in_progress`: the first run with this `idempotency_key` has not finished.",
        },
        507: {"model": ErrorEnvelope, "description": "`storage_full`: the KIP database has no room for the call."},
    },
    summary="Run the agent's tool under budget",
)
async def run_agent(agent_id: str, body: AgentRequest, kip: KipDep) -> RunResult:
    agent = await kip.store.get_agent(agent_id)
    events = [event async for event in kip.runner.run(agent.name, body)]
    match events[-1]:
        # Not a refusal of this run but of its replay, which has no result to give yet: the error, so that a
        # client retrying after a timeout learns to ask again later instead of reading a final outcome.
        case AgentRefused(code=ErrorCode.TOOL_CALL_IN_PROGRESS, message=message):
            raise ToolCallInProgressError(message)
    return RunResult(events=events)


@router.get("/knowledge", summary="Notes, facts and decisions by text, topic, kind or source conversation")
async def search_knowledge(kip: KipDep, query: Annotated[KnowledgeQuery, Query()]) -> list[KnowledgeItem]:
    return await kip.store.search_knowledge(query)


@router.post("/knowledge", status_code=201, summary="Add a knowledge item")
async def add_knowledge(item: KnowledgeCreate, kip: KipDep) -> KnowledgeItem:
    return await kip.store.add_knowledge(item)


@router.get("/decisions", summary="Council decisions, newest first")
async def list_decisions(
    kip: KipDep,
    topic: str | None = None,
    thread_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[KnowledgeItem]:
    query = KnowledgeQuery(kind=KnowledgeKind.DECISION, topic=topic, source=thread_id, limit=limit)
    return await kip.store.search_knowledge(query)


@router.post("/decisions", status_code=201, summary="Record a council decision")
async def record_decision(decision: DecisionCreate, kip: KipDep) -> KnowledgeItem:
    return await kip.store.add_knowledge(decision.as_knowledge())


@router.get(
    "/conversations/{thread_id}/graph",
    summary="A recorded conversation: its messages, the decisions they made, the knowledge derived from it",
)
async def get_conversation_graph(
    thread_id: Annotated[str, Path(min_length=1, max_length=MAX_THREAD_ID_CHARS)], kip: KipDep
) -> ConversationGraph:
    return await kip.store.conversation_graph(thread_id)
