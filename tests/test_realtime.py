"""`/v1/realtime` end to end with the official `openai` SDK's realtime client: both services as processes, every
server event validated by the SDK's own models (`realtime_client.checked`), speech in and speech out."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from openai import AsyncOpenAI
from openai.resources.realtime.realtime import AsyncRealtimeConnection
from realtime_client import audio_of, checked, paced, speech_pcm24k
from test_voice_socket import transcribe_24k, word_error_rate

from conftest import ServiceProcess

RECV_TIMEOUT_S = 120  # a turn on 2 shared cores: routing, a model's answer and its speech


class Session:
    """The SDK's connection, with every event it receives checked and kept."""

    def __init__(self, connection: AsyncRealtimeConnection) -> None:
        self.connection = connection
        self.events: list[dict[str, Any]] = []

    async def until(self, kind: str, where: Callable[[dict[str, Any]], bool] = lambda _: True) -> dict[str, Any]:
        while True:
            try:
                raw = await asyncio.wait_for(self.connection.recv_bytes(), RECV_TIMEOUT_S)
            except TimeoutError:
                raise AssertionError(f"no {kind} in {RECV_TIMEOUT_S} s; received: {self.types()}") from None
            event = checked(raw)
            self.events.append(event)
            if event["type"] == kind and where(event):
                return event
            if kind != "error":
                assert event["type"] != "error", event

    def types(self) -> list[str]:
        return [event["type"] for event in self.events]

    async def speak(self, pcm: bytes) -> None:
        """Send speech paced in real time (the pacing sleeps off the event loop)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, str] | None] = asyncio.Queue()

        def produce() -> None:
            for event in paced(pcm):
                loop.call_soon_threadsafe(queue.put_nowait, event)
            loop.call_soon_threadsafe(queue.put_nowait, None)

        producer = loop.run_in_executor(None, produce)
        while (event := await asyncio.wait_for(queue.get(), 30)) is not None:
            await self.connection.send(event)  # type: ignore[arg-type]
        await producer


@contextlib.asynccontextmanager
async def realtime(main: ServiceProcess, model: str, request_id: str = "realtime-test") -> AsyncIterator[Session]:
    client = AsyncOpenAI(base_url=f"{main.url}/v1", api_key="no-key-configured", max_retries=0)
    async with client.realtime.connect(model=model, extra_headers={"X-Request-ID": request_id}) as connection:
        session = Session(connection)
        await session.until("session.created")
        yield session
    await client.close()


def run(scenario: Callable[[], Any]) -> Any:
    return asyncio.run(asyncio.wait_for(scenario(), 600))


def test_a_text_turn_answers_in_text_with_the_deliberation_as_extension_events(main: ServiceProcess) -> None:
    async def scenario() -> Session:
        async with realtime(main, "fast") as session:
            await session.connection.session.update(session={"type": "realtime", "output_modalities": ["text"]})
            updated = await session.until("session.updated")
            assert updated["session"]["output_modalities"] == ["text"]
            await session.connection.conversation.item.create(
                item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "What is 2+2?"}]}
            )
            await session.connection.response.create()
            await session.until("response.done")
            return session

    session = run(scenario)
    types = session.types()
    done = session.events[-1]["response"]
    text = next(e for e in session.events if e["type"] == "response.output_text.done")["text"]
    deltas = "".join(e["delta"] for e in session.events if e["type"] == "response.output_text.delta")
    assert done["status"] == "completed"
    assert text
    assert deltas == text
    assert done["output"][0]["content"][0] == {"type": "output_text", "text": text}
    assert done["usage"]["output_tokens"] > 0
    assert types.index("conversation.item.added") < types.index("response.created") < types.index("council.route")
    assert "response.output_audio.delta" not in types


def test_a_spoken_turn_is_heard_transcribed_and_answered_in_speech(main: ServiceProcess, voice: ServiceProcess) -> None:
    question = speech_pcm24k(voice, "What is the tallest mountain on Earth?")

    async def scenario() -> Session:
        async with realtime(main, "fast") as session:
            await session.speak(question)
            await session.until("response.done")
            return session

    session = run(scenario)
    types = session.types()
    heard = next(e for e in session.events if e["type"] == "conversation.item.input_audio_transcription.completed")
    response = session.events[-1]["response"]
    transcript = next(e for e in session.events if e["type"] == "response.output_audio_transcript.done")
    assert "mountain" in heard["transcript"].lower()
    assert types.index("input_audio_buffer.speech_started") < types.index("input_audio_buffer.speech_stopped")
    assert types.index("input_audio_buffer.speech_stopped") < types.index("input_audio_buffer.committed")
    assert types.index("input_audio_buffer.committed") < types.index("response.created")
    assert response["status"] == "completed"
    # The speech, transcribed back by the voice service, is the answer's transcript.
    spoken = transcribe_24k(voice, audio_of(session.events, response["id"]))
    assert word_error_rate(transcript["transcript"], spoken) < 0.25, (transcript["transcript"], spoken)


def test_speaking_over_the_answer_cancels_its_response(main: ServiceProcess, voice: ServiceProcess) -> None:
    question = speech_pcm24k(voice, "What is the tallest mountain on Earth?")

    async def scenario() -> Session:
        async with realtime(main, "fast") as session:
            await session.speak(question)
            first = await session.until("response.output_audio.delta")
            await session.speak(question)  # the user talks again while the answer is being spoken
            await session.until("response.done", lambda e: e["response"]["id"] == first["response_id"])
            await session.until("response.created")  # the interruption is the next turn
            return session

    session = run(scenario)
    cancelled = next(e for e in session.events if e["type"] == "response.done")["response"]
    assert cancelled["status"] == "cancelled"
    assert cancelled["status_details"]["reason"] == "turn_detected"
    assert "response.output_audio.done" not in session.types()[: session.types().index("response.done")]


def test_truncating_the_playing_answer_stops_it(main: ServiceProcess) -> None:
    async def scenario() -> Session:
        async with realtime(main, "fast") as session:
            await session.connection.conversation.item.create(
                item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Describe Mars."}]}
            )
            await session.connection.response.create()
            first = await session.until("response.output_audio.delta")
            await session.connection.conversation.item.truncate(
                item_id=first["item_id"], content_index=0, audio_end_ms=0
            )
            await session.until("conversation.item.truncated")
            await session.until("response.done")
            return session

    session = run(scenario)
    done = session.events[-1]["response"]
    assert (done["status"], done["status_details"]["reason"]) == ("cancelled", "client_cancelled")


@pytest.mark.parametrize(
    ("event", "param"),
    [
        (
            {
                "type": "session.update",
                "session": {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu"}}}},
            },
            "session.audio.input.format",
        ),
        (
            {"type": "session.update", "session": {"type": "realtime", "tools": [{"type": "function", "name": "f"}]}},
            "session.tools",
        ),
        (
            {
                "type": "conversation.item.create",
                "item": {"type": "function_call_output", "call_id": "c", "output": ""},
            },
            "item",
        ),
        ({"type": "conversation.item.retrieve", "item_id": "x"}, "type"),
        ({"type": "response.cancel"}, None),
    ],
)
def test_what_the_council_does_not_support_is_an_error_event_and_the_session_goes_on(
    main: ServiceProcess, event: dict[str, Any], param: str | None
) -> None:
    async def scenario() -> Session:
        async with realtime(main, "fast", request_id="realtime-refused") as session:
            await session.connection.send({**event, "event_id": "client-1"})  # type: ignore[arg-type]
            await session.until("error")
            await session.connection.input_audio_buffer.clear()
            await session.until("input_audio_buffer.cleared")  # still served
            return session

    session = run(scenario)
    error = next(e for e in session.events if e["type"] == "error")["error"]
    assert (error["param"], error["event_id"], error["request_id"]) == (param, "client-1", "realtime-refused")
    assert error["message"]
    assert "session.updated" not in session.types()  # a refused update changes nothing
