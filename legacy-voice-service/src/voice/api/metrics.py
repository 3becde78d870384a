"""`GET /metrics`: Prometheus text exposition of this instance's metrics."""

from fastapi import APIRouter
from fastapi.responses import Response

from voice.api.deps import MetricsDep

router = APIRouter(tags=["metrics"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def get_metrics(metrics: MetricsDep) -> Response:
    return Response(metrics.render(), media_type=metrics.content_type)
