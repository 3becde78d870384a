"""The official `openai` SDK pointed at the real service process (its api_key is our service token), and a
recorder of the app's Whisper calls."""

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from openai import OpenAI

from tests.conftest import SERVICE_TOKEN, Server


@pytest.fixture(scope="session")
def openai_client(server: Server) -> OpenAI:
    # No SDK retries: a 429 must reach the test, not be retried away.
    return OpenAI(base_url=f"{server.url}/v1", api_key=SERVICE_TOKEN, max_retries=0, timeout=60)


@pytest.fixture
def whisper_calls(monkeypatch: pytest.MonkeyPatch) -> Callable[[Any], list[float]]:
    """Patches an app's Whisper to record the seconds of audio of each call (the real model still answers)."""
    seconds: list[float] = []

    def watch(client: Any) -> list[float]:
        whisper = client.app_state["engines"].transcriber("whisper-1").engine
        transcribe = whisper.transcribe

        def measured(audio: np.ndarray, options: Any) -> Any:
            seconds.append(audio.size / 16_000)
            return transcribe(audio, options)

        monkeypatch.setattr(whisper, "transcribe", measured)
        return seconds

    return watch
