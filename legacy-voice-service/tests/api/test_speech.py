"""`POST /v1/audio/speech` in process: a request that fails while it is being set up gives its engine slot back,
and the OpenAPI schema names every media type the route streams."""

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AppClient
from voice.api import speech
from voice.settings import Settings


def test_a_failing_encoder_setup_does_not_keep_the_engine_slot(
    app_client: AppClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One job at a time and no queue: a leaked slot would make every later request a 429.
    client = app_client(
        Settings(
            _env_file=None,
            stt={"enabled": False},
            vad={"enabled": False},
            limits={"max_concurrent_jobs": 1, "max_queued_jobs": 0},
        )
    )

    # Kept as an error reporter keeps them: a failed request's frames then stay alive, so the slot must not depend
    # on them being garbage-collected.
    kept: list[BaseException] = []

    def broken_encoder(*_: object) -> None:
        kept.append(RuntimeError("injected fault: the encoder cannot be opened"))
        raise kept[-1]

    monkeypatch.setattr(speech, "StreamEncoder", broken_encoder)
    body = {"voice": "en_US-joe-medium", "input": "Hello there.", "response_format": "mp3"}
    for _ in range(2):
        failed = client.post("/v1/audio/speech", json=body)
        assert failed.status_code == 500
        assert failed.json()["error"]["code"] == "internal_error"
    monkeypatch.undo()
    served = client.post("/v1/audio/speech", json=body)
    assert served.status_code == 200
    assert served.headers["content-type"] == "audio/mpeg"


def test_the_openapi_schema_lists_each_output_format_media_type(client: TestClient) -> None:
    content = client.get("/openapi.json").json()["paths"]["/v1/audio/speech"]["post"]["responses"]["200"]["content"]
    assert set(content) == {"audio/wav", "audio/pcm", "audio/mpeg", "audio/ogg"}
