"""Health reports in the `application/health+json` shape (draft-inadarei-api-health-check)."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from fastapi.responses import JSONResponse

HEALTH_MEDIA_TYPE = "application/health+json"


class HealthResponse(JSONResponse):
    """`application/health+json`, as a class so that the OpenAPI schema documents the media type too."""

    media_type = HEALTH_MEDIA_TYPE


class HealthStatus(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


_SEVERITY = {HealthStatus.PASS: 0, HealthStatus.WARN: 1, HealthStatus.FAIL: 2}


@dataclass(frozen=True)
class Check:
    """One dependency's state. `critical=False` caps its effect on the whole report at `warn`."""

    name: str
    status: HealthStatus
    output: str = ""
    component_type: str = "component"
    critical: bool = True
    observed: dict[str, Any] = field(default_factory=dict)
    time: datetime = field(default_factory=lambda: datetime.now(UTC))

    def effective_status(self) -> HealthStatus:
        if not self.critical and self.status is HealthStatus.FAIL:
            return HealthStatus.WARN
        return self.status

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "componentType": self.component_type,
            "status": self.effective_status().value,
            "time": self.time.isoformat(),
        }
        if self.output:
            body["output"] = self.output
        body.update(self.observed)
        return body


def health_response(service_id: str, version: str, checks: Sequence[Check] = ()) -> HealthResponse:
    status = max((check.effective_status() for check in checks), key=_SEVERITY.__getitem__, default=HealthStatus.PASS)
    body = {
        "status": status.value,
        "version": version,
        "serviceId": service_id,
        "checks": {check.name: [check.as_json()] for check in checks},
    }
    return HealthResponse(body, status_code=503 if status is HealthStatus.FAIL else 200)
