"""Every router, wired in one place."""

from fastapi import APIRouter

from voice.api import health

api_router = APIRouter()
api_router.include_router(health.router)
