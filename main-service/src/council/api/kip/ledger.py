"""KIP money: minting and burning treasury value, transfers (idempotent), the ledger and its analysis."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from council.api.deps import KipDep
from council.api.responses import Responses
from council.kip.analyzer import EconomyAnalysis
from council.kip.errors import IdempotencyKeyRequiredError
from council.kip.ledger import MAX_AMOUNT, Receipt, TransactionKind, TransactionPage, TransactionQuery
from council.kip.treasury import TreasurySummary

router = APIRouter()
# A repeated Idempotency-Key answers 200 with the original receipt (and `Idempotent-Replayed: true`) instead of 201.
_REPLAYED: Responses = {
    200: {"model": Receipt, "description": "A replayed Idempotency-Key: the original movement; nothing moved again."}
}

Amount = Annotated[int, Field(gt=0, le=MAX_AMOUNT, strict=True, description="Integer minor units.")]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
REPLAY_HEADER = "Idempotent-Replayed"


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


def _receipt(receipt: Receipt, response: Response) -> Receipt:
    if receipt.replayed:
        response.status_code = status.HTTP_200_OK
        response.headers[REPLAY_HEADER] = "true"
    return receipt


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
