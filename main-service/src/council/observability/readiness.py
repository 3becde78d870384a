"""Readiness as each caller may see it: a trusted caller (the admin, or a process on this machine: the operator's
probes) gets fresh probes with their details; anyone else gets the last probes, at most `MAX_AGE_S` old, as pass, warn
or fail per check, without the errors' text (which names hosts, databases and backends)."""

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Sequence

from council.health import Check

MAX_AGE_S = 2.0
"""How long anyone but a trusted caller is answered from the last probes: a flood of /health/ready then costs the
databases, models and voice service one probe per interval, and a load balancer polling every few seconds still sees
a change within one poll."""

Probe = Callable[[], Awaitable[Sequence[Check]]]


def without_details(check: Check) -> Check:
    """The check as an untrusted caller sees it: its name, kind, status and time."""
    return dataclasses.replace(check, output="", observed={})


class ReadinessCache:
    """The last probes of the service's dependencies, shared by every caller of one app (built in its lifespan)."""

    def __init__(self, max_age_s: float = MAX_AGE_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age_s = max_age_s
        self.clock = clock
        self._checks: Sequence[Check] = ()
        self._probed_at: float | None = None
        self._lock = asyncio.Lock()  # callers arriving while a probe runs wait for it rather than start their own

    async def checks(self, probe: Probe, *, fresh: bool) -> Sequence[Check]:
        """`probe`'s checks: run now when `fresh` (a trusted caller), else reused while younger than `max_age_s`."""
        if fresh:
            return self._keep(await probe())
        async with self._lock:
            if self._probed_at is None or self.clock() - self._probed_at >= self.max_age_s:
                return self._keep(await probe())
            return self._checks

    def _keep(self, checks: Sequence[Check]) -> Sequence[Check]:
        self._checks, self._probed_at = checks, self.clock()
        return checks
