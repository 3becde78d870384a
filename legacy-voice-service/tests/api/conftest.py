"""The official `openai` SDK pointed at the real service process (its api_key is our service token)."""

import pytest
from openai import OpenAI

from tests.conftest import SERVICE_TOKEN, Server


@pytest.fixture(scope="session")
def openai_client(server: Server) -> OpenAI:
    # No SDK retries: a 429 must reach the test, not be retried away.
    return OpenAI(base_url=f"{server.url}/v1", api_key=SERVICE_TOKEN, max_retries=0, timeout=60)
