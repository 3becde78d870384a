"""A test client's side of `/v1/realtime` that needs no SDK connection (reusable by bench/): speech to send, its
events paced like a microphone, and every server event checked against the `openai` SDK's own models."""

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
from openai.types.realtime import RealtimeServerEvent
from pydantic import BaseModel, TypeAdapter

from servicekit import ServiceProcess

RATE = 24_000
CHUNK_S = 0.1  # 100 ms per append, as browsers' worklets commonly batch
EXTENSION_PREFIX = "council."
# Fields the council adds to standard events on purpose (docs/realtime.md): nothing else may be unknown to the SDK.
EXTENSION_FIELDS = {("error", "request_id"), ("session", "council")}

_SERVER_EVENT = TypeAdapter[Any](RealtimeServerEvent)


def speech_pcm24k(voice: ServiceProcess, text: str, trailing_silence_s: float = 1.5) -> bytes:
    """Piper's speech as the voice service makes it (`pcm`: 24 kHz mono s16le, Realtime's own input format), then
    silence, as a microphone would go on sending."""
    response = httpx.post(
        f"{voice.url}/v1/audio/speech",
        json={"input": text, "voice": "en_US-joe-medium", "response_format": "pcm"},
        timeout=60,
    )
    response.raise_for_status()
    return response.content + bytes(int(2 * RATE * trailing_silence_s))


def appends(pcm: bytes) -> Iterator[tuple[dict[str, str], float]]:
    """`input_audio_buffer.append` events of `CHUNK_S` each, with the second (from the start) each is due."""
    size = int(RATE * 2 * CHUNK_S)
    for index, start in enumerate(range(0, len(pcm), size)):
        audio = base64.b64encode(pcm[start : start + size]).decode()
        yield {"type": "input_audio_buffer.append", "audio": audio}, index * CHUNK_S


def paced(pcm: bytes) -> Iterator[dict[str, str]]:
    """`appends`, each released when it is due in real time (a blocking generator: iterate it off the event loop)."""
    started = time.monotonic()
    for event, due in appends(pcm):
        ahead = due - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)
        yield event


def checked(raw: str | bytes) -> dict[str, Any]:
    """A server event, validated by the SDK's event models (a missing or mistyped field fails), with no field the
    SDK does not know but the documented extensions; `council.*` extension events only need a type and an id."""
    data: dict[str, Any] = json.loads(raw)
    if data["type"].startswith(EXTENSION_PREFIX):
        assert isinstance(data.get("event_id"), str), data
        return data
    model = _SERVER_EVENT.validate_python(data)
    assert model.type == data["type"], (model.type, data)
    unknown = list(_unknown_fields(model, data["type"]))
    assert not unknown, f"{data['type']} has fields the SDK does not know: {unknown}"
    return data


def _unknown_fields(value: object, where: str) -> Iterator[str]:
    if isinstance(value, BaseModel):
        for name in value.model_extra or {}:
            if (where.rsplit(".", 1)[-1], name) not in EXTENSION_FIELDS:
                yield f"{where}.{name}"
        for name in type(value).model_fields:
            yield from _unknown_fields(getattr(value, name), f"{where}.{name}")
    elif isinstance(value, list):
        for item in value:
            yield from _unknown_fields(item, where)


def audio_of(events: list[dict[str, Any]], response_id: str) -> bytes:
    return b"".join(
        base64.b64decode(e["delta"])
        for e in events
        if e["type"] == "response.output_audio.delta" and e["response_id"] == response_id
    )
