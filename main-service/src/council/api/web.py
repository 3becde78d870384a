"""The web UI: a static page and its assets, shipped inside the package (no build step)."""

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

WEB_DIR = Path(str(files("council") / "web"))

router = APIRouter(include_in_schema=False)


@router.get("/")
async def get_web_ui() -> FileResponse:
    return FileResponse(WEB_DIR / "index.html", headers={"Cache-Control": "no-cache"})
