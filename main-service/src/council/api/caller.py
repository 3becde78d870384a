"""`GET /api/caller`: who the request's key says the caller is (the web UI asks it first, to know whether it
needs a key)."""

from fastapi import APIRouter
from pydantic import BaseModel, Field

from council.api.deps import CallerDep

router = APIRouter(prefix="/api", tags=["auth"])


class CallerView(BaseModel):
    name: str = Field(description="`local` when no key is configured, `admin` for the admin key, else the client.")
    admin: bool = Field(description="May run KIP agents, change KIP and see every conversation.")


@router.get("/caller", summary="Who the request's key names")
async def get_caller(caller: CallerDep) -> CallerView:
    return CallerView(name=caller.name, admin=caller.admin)
