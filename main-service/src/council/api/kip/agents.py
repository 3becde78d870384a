"""KIP agents: create, list, change; the tools they may be given; running an agent's tool under its budget."""

from fastapi import APIRouter
from pydantic import BaseModel

from council.api.deps import KipDep
from council.api.responses import ErrorEnvelope
from council.errors import ErrorCode
from council.kip import AgentRequest, KipEvent
from council.kip.agents import Agent, AgentCreate, AgentPatch
from council.kip.errors import ToolCallInProgressError
from council.kip.runner import AgentRefused

router = APIRouter()


class AgentList(BaseModel):
    agents: list[Agent]


class ToolInfo(BaseModel):
    name: str
    description: str
    price: int
    network: bool


class RunResult(BaseModel):
    events: list[KipEvent]


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
