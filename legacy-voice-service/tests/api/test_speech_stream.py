"""The streaming engine's answers (`speech_stream`), without a socket: an answer left open does not hold the engine's
one utterance for ever. A stand-in engine that, like Kyutai, speaks one utterance at a time (the real one is in
tests/engines/test_kyutai_moshi.py, which needs moshi)."""

from collections.abc import Iterator
from typing import Any

import anyio
import numpy as np
import pytest

from voice.audio import Samples
from voice.engines.base import StreamingTextToSpeech, Utterance, VoiceInfo
from voice.engines.loading import JobQueue, LoadedEngine
from voice.errors import EngineBusy
from voice.observability.metrics import Metrics
from voice.sessions.speech_stream import StreamedAnswers
from voice.settings import RealtimeSettings

FRAME = 1920  # 80 ms at 24 kHz, as Kyutai's


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class OneFramePerPiece(Utterance):
    def __init__(self, engine: "OneUtteranceAtATime") -> None:
        self.engine = engine
        self.pushed: list[str] = []
        self.finished = self.closed = False

    def push(self, text: str) -> Iterator[Samples]:
        self.pushed.append(text)
        yield np.zeros(FRAME, np.float32)

    def finish(self) -> Iterator[Samples]:
        self.finished = True
        yield np.zeros(FRAME, np.float32)

    def close(self) -> None:
        self.closed = True
        self.engine.open = None


class OneUtteranceAtATime(StreamingTextToSpeech):
    name = "one-at-a-time"

    def __init__(self) -> None:
        self.open: OneFramePerPiece | None = None
        self.utterances: list[OneFramePerPiece] = []

    @property
    def model_id(self) -> str:
        return self.name

    @property
    def sample_rate(self) -> int:
        return 24_000

    def load(self) -> None:
        pass

    def warm_up(self) -> None:
        pass

    def voices(self) -> list[VoiceInfo]:
        return [VoiceInfo("v", self.name, "en", self.sample_rate)]

    def utterance(self, voice: str) -> Utterance:
        if self.open is not None:
            raise EngineBusy("one utterance at a time")
        self.open = OneFramePerPiece(self)
        self.utterances.append(self.open)
        return self.open


@pytest.mark.anyio
async def test_an_answer_left_open_is_ended_after_the_text_gap_and_the_engine_is_free() -> None:
    metrics = Metrics()
    engine = OneUtteranceAtATime()
    loaded = LoadedEngine[Any](engine, default=True, queue=JobQueue("one", 1, 1, 2, metrics), metrics=metrics)
    loaded.load()
    events: list[dict[str, Any]] = []
    done = anyio.Event()

    async def send(event_type: str, **fields: Any) -> None:
        events.append({"type": event_type, **fields})
        if event_type == "speech.audio.done":
            done.set()

    answers = StreamedAnswers(loaded, send, lambda: "v", RealtimeSettings(max_text_gap_s=0.2))
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(answers.speak_forever)
        answers.add("The council has")  # and then nothing: no more text, no speech.text.done
        with anyio.fail_after(10):
            await done.wait()
        kinds = [event["type"] for event in events]
        [error] = [event for event in events if event["type"] == "error"]
        assert "VOICE_REALTIME__MAX_TEXT_GAP_S" in error["error"]["message"]
        assert kinds[-1] == "speech.audio.done"  # after the rest of its audio: the words so far are not cut
        [first] = engine.utterances
        assert (first.pushed, first.finished, first.closed) == (["The council has"], True, True)
        assert not answers.speaking

        # Text that comes later is another answer, in an utterance of its own: the engine was free.
        done = anyio.Event()
        answers.add(" decided.")
        answers.end_answer()
        with anyio.fail_after(10):
            await done.wait()
        assert [utterance.pushed for utterance in engine.utterances] == [["The council has"], [" decided."]]
        assert events[-1]["type"] == "speech.audio.done"
        assert "error" not in [event["type"] for event in events[len(kinds) :]]
        tasks.cancel_scope.cancel()
