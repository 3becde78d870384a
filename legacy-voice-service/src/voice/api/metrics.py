"""`GET /metrics`: Prometheus text exposition of this instance's metrics."""

from fastapi import APIRouter
from fastapi.responses import Response

from voice.api.deps import MetricsDep
from voice.api.responses import METRICS_RESPONSES

router = APIRouter(tags=["metrics"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response, responses=METRICS_RESPONSES)
async def get_metrics(metrics: MetricsDep) -> Response:
    return Response(metrics.render(), media_type=metrics.content_type)
