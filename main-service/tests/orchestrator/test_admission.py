"""The admission charges a turn's model calls to its client's budget, by what the turn can cost, before it runs."""

from pathlib import Path

import pytest

from council.auth import LOCAL
from council.errors import CouncilError
from council.llm import ModelRegistry
from council.orchestrator import open_orchestrator
from council.orchestrator.admission import turn_cost
from council.orchestrator.smart_router import decide
from council.ratelimit import OverBudgetError, RateLimiter
from tests.orchestrator.conftest import orchestrator_settings

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("message", "review_round", "ranking", "expected"),
    [
        ("/fast hi", True, True, 1),  # stages change nothing off the council path
        ("/council hi", False, False, 4),  # three members and the chair
        ("/council hi", True, False, 7),
        ("/council hi", True, True, 10),  # 3N+1
    ],
)
def test_a_turn_costs_what_its_path_and_stages_can_call(
    message: str, review_round: bool, ranking: bool, expected: int
) -> None:
    route = decide(message, requested="auto", kip_available=False, council_min_words=60)
    assert turn_cost(route, 3, review_round=review_round, ranking=ranking) == expected


async def test_a_client_out_of_model_calls_is_refused_with_429_before_its_turn_runs(
    models: ModelRegistry, tmp_path: Path
) -> None:
    settings = orchestrator_settings(tmp_path)
    settings.rate_limit.model_calls = "5/minute"
    limiter = RateLimiter(settings.rate_limit)
    try:
        async with open_orchestrator(settings, models=models, budget=limiter) as orchestrator:
            council = await orchestrator.admit("/council Tea or coffee?", caller=LOCAL, client="ip:a")
            assert council.cost == 4
            await orchestrator.admit("/fast hi", caller=LOCAL, client="ip:a")  # the fifth call
            with pytest.raises(OverBudgetError) as refused:
                await orchestrator.admit("/fast hi", caller=LOCAL, client="ip:a")
            await orchestrator.admit("/fast hi", caller=LOCAL, client="ip:b")  # another client's budget is its own
            with pytest.raises(CouncilError) as too_costly:  # can never fit a window: said so, not "retry"
                await orchestrator.admit("/council hi", caller=LOCAL, client="ip:c", review_round=True, ranking=True)
    finally:
        await limiter.aclose()

    assert refused.value.status_code == 429
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 60
    assert "COUNCIL_RATE_LIMIT__MODEL_CALLS" in refused.value.message
    assert too_costly.value.status_code == 422
