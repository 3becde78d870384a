"""Pheromind REST: the strongest live trails, read-only, for the operator (trails name what everyone asks about)."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from council.api.deps import PheromindDep, RequireAdmin
from council.pheromind import Pheromone

router = APIRouter(prefix="/api/pheromind", tags=["pheromind"], dependencies=[RequireAdmin])


class TrailList(BaseModel):
    backend: str
    degraded: bool = Field(description="True while the store is unreachable; trails are then empty.")
    trails: list[Pheromone]


@router.get("/trails", summary="Strongest live trails, optionally for one topic")
async def list_trails(
    pheromind: PheromindDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    topic: Annotated[str | None, Query(max_length=100)] = None,
) -> TrailList:
    trails = await pheromind.trails(limit, topic=topic.casefold() if topic else None)
    return TrailList(backend=pheromind.store.backend, degraded=pheromind.degraded, trails=trails)
