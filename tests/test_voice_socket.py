"""`/ws/voice` end to end: both services as processes, speech the voice service synthesizes streamed in as PCM in
real time, the answer spoken back while it is written."""

import io
import json
import signal
import time
import wave
from array import array
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from conftest import ServiceProcess, StartService
from servicekit import free_port, voice_process

FRAME_BYTES = 640  # 20 ms at 16 kHz s16le
FRAME_S = 0.02


def speech_pcm16k(voice: ServiceProcess, text: str, trailing_silence_s: float = 1.5) -> bytes:
    """Piper speech (24 kHz `pcm`) resampled to the socket's 16 kHz by linear interpolation, plus trailing silence."""
    response = httpx.post(
        f"{voice.url}/v1/audio/speech",
        json={"input": text, "voice": "en_US-joe-medium", "response_format": "pcm"},
        timeout=60,
    )
    response.raise_for_status()
    source = array("h", response.content)
    out = array("h")
    for i in range(len(source) * 2 // 3):
        position = i * 1.5
        left = int(position)
        right = min(left + 1, len(source) - 1)
        out.append(round(source[left] + (source[right] - source[left]) * (position - left)))
    return out.tobytes() + bytes(int(2 * 16_000 * trailing_silence_s))


def stream(socket: ClientConnection, pcm: bytes, *, real_time: bool = True) -> None:
    """Send 20 ms frames, paced like a microphone (the server's turn detection works on the audio's own clock,
    so pacing only keeps the socket's backlog bounded and the test's timeline realistic)."""
    started = time.monotonic()
    for index, start in enumerate(range(0, len(pcm), FRAME_BYTES)):
        socket.send(pcm[start : start + FRAME_BYTES])
        if real_time:
            ahead = (index + 1) * FRAME_S - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)


class Received:
    """Everything a voice socket sent: events in order, and the answer audio of each turn."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.events: list[dict[str, Any]] = []
        self.audio: dict[str, bytearray] = {}  # (turn id, kind) -> pcm
        self._playing: str | None = None

    def until(self, stop: str, **fields: Any) -> list[dict[str, Any]]:
        """Read until an event of type `stop` with these fields; returns the events read by this call."""
        start = len(self.events)
        while True:
            frame = self.socket.recv(timeout=120)
            if isinstance(frame, bytes):
                assert self._playing is not None, "audio outside audio.start / audio.end"
                self.audio.setdefault(self._playing, bytearray()).extend(frame)
                continue
            event = json.loads(frame)
            self.events.append(event)
            if event["type"] == "audio.start":
                self._playing = f"{event['id']}:{event['kind']}"
            elif event["type"] in ("audio.end", "cancelled"):
                self._playing = None
            assert event["type"] != "error", event
            if event["type"] == stop and all(event.get(k) == v for k, v in fields.items()):
                return self.events[start:]

    def types(self) -> list[str]:
        return [event["type"] for event in self.events]


def ask(socket: ClientConnection, path: str, pcm: bytes) -> Received:
    """Wait for the session to be ready, choose `path` and speak `pcm`; returns the reader of all the socket sent."""
    received = Received(socket)
    received.until("ready")
    socket.send(json.dumps({"type": "config", "path": path}))
    stream(socket, pcm)
    return received


def read_until_closed(socket: ClientConnection, events: list[dict[str, Any]] | None = None) -> None:
    """Read (keeping the text events) until the server closes the socket, which raises `ConnectionClosed`."""
    while True:
        frame = socket.recv(timeout=120)
        if isinstance(frame, str) and events is not None:
            events.append(json.loads(frame))


def voice_url(main: ServiceProcess) -> str:
    return main.url.replace("http", "ws") + "/ws/voice"


def transcribe_24k(voice: ServiceProcess, pcm: bytes) -> str:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(24_000)
        wav.writeframes(pcm)
    response = httpx.post(
        f"{voice.url}/v1/audio/transcriptions",
        files={"file": ("answer.wav", buffer.getvalue(), "audio/wav")},
        data={"response_format": "json"},
        timeout=120,
    )
    response.raise_for_status()
    text: str = response.json()["text"]
    return text


def normalized_words(text: str) -> list[str]:
    return "".join(c if c.isalnum() or c.isspace() else " " for c in text.lower()).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    ref, hyp = normalized_words(reference), normalized_words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        previous, row[0] = row[0], i
        for j, hyp_word in enumerate(hyp, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ref_word != hyp_word))
    return row[-1] / max(len(ref), 1)


@pytest.fixture(scope="module")
def question(voice: ServiceProcess) -> bytes:
    return speech_pcm16k(voice, "What is the tallest mountain on Earth?")


@pytest.fixture(scope="module")
def long_answers(voice: ServiceProcess, start_main_module: StartService) -> ServiceProcess:
    """A main service whose answers run to several sentences, so speech can start long before the answer ends."""
    return start_main_module(voice, COUNCIL_LLM__MAX_TOKENS="90")


def test_the_answer_is_spoken_while_it_is_written_and_what_is_spoken_is_the_answer(
    voice: ServiceProcess, long_answers: ServiceProcess
) -> None:
    request_id = "voice-e2e-speak-while-writing"
    with connect(voice_url(long_answers), additional_headers={"X-Request-ID": request_id}) as socket:
        received = ask(socket, "fast", speech_pcm16k(voice, "Describe the planet Mars in a few sentences."))
        ready = received.events[0]
        start = received.until("audio.start", kind="answer")[-1]
        received.until("audio.end", id=start["id"])

    types = received.types()
    final = next(e for e in received.events if e["type"] == "final")
    assert ready["input"] == {"sample_rate": 16000, "format": "s16le", "channels": 1}
    assert types.index("speech.started") < types.index("speech.stopped") < types.index("transcript")
    assert types.index("transcript") < types.index("route") < types.index("audio.start") < types.index("final")
    assert start["output"] == {"sample_rate": 24000, "format": "s16le", "channels": 1}
    # Nothing spoken twice or skipped: the speech, transcribed back, is the written answer.
    spoken = transcribe_24k(voice, bytes(received.audio[f"{start['id']}:answer"]))
    assert word_error_rate(final["answer"], spoken) < 0.25, (final["answer"], spoken)
    # One request ID follows the session into the voice service's real-time sockets (its JSON log says so).
    deadline = time.monotonic() + 30
    while not any(line.get("request_id") == request_id for line in voice.log_lines()):
        assert time.monotonic() < deadline, "the voice service never logged the session's request ID"
        time.sleep(0.2)


def test_speaking_over_the_answer_stops_its_audio_and_becomes_the_next_turn(
    main: ServiceProcess, question: bytes
) -> None:
    with connect(voice_url(main)) as socket:
        received = ask(socket, "fast", question)
        first_turn = received.until("audio.start", kind="answer")[-1]["id"]
        stream(socket, question)  # the user talks again while the answer is being spoken
        after = received.until("transcript")

    types = [event["type"] for event in after]
    assert {"type": "audio.paused", "id": first_turn} in after
    assert {"type": "barge_in", "id": first_turn} in after
    assert {"type": "cancelled", "id": first_turn} in after
    assert types.index("speech.started") < types.index("audio.paused") < types.index("barge_in")
    assert types.index("barge_in") < types.index("cancelled") < types.index("transcript")
    assert not any(e["type"] == "audio.end" and e.get("id") == first_turn for e in after)
    assert after[-1]["id"] != first_turn
    assert "mountain" in after[-1]["text"].lower()


def test_a_backchannel_over_the_answer_pauses_it_and_lets_it_finish(
    voice: ServiceProcess, long_answers: ServiceProcess
) -> None:
    with connect(voice_url(long_answers)) as socket:
        received = ask(socket, "fast", speech_pcm16k(voice, "Describe the planet Mars in a few sentences."))
        turn = received.until("audio.start", kind="answer")[-1]["id"]
        # A short "Okay." often sounds unfinished to the turn model, so its turn ends at the longer silence
        # (VOICE_TURN__MAX_SILENCE_MS, 1.3 s): the microphone keeps sending silence meanwhile, as a real one does.
        stream(socket, speech_pcm16k(voice, "Okay.", trailing_silence_s=2.5))
        after = received.until("audio.end", id=turn)

    resumed = next(e for e in after if e["type"] == "audio.resumed")
    assert (resumed["id"], resumed["reason"]) == (turn, "backchannel")
    assert {"type": "audio.paused", "id": turn} in after
    assert not any(e["type"] in ("barge_in", "cancelled", "transcript") for e in after)


def test_the_council_path_speaks_an_acknowledgement_then_the_chairs_answer(
    main: ServiceProcess, question: bytes
) -> None:
    with connect(voice_url(main)) as socket:
        received = ask(socket, "council", question)
        acknowledgement = received.until("audio.start")[-1]
        answer = received.until("audio.start", kind="answer")[-1]
        received.until("audio.end", id=answer["id"], kind="answer")

    types = received.types()
    assert acknowledgement["kind"] == "acknowledgement"
    assert acknowledgement["text"]
    assert acknowledgement["id"] == answer["id"]
    assert received.audio[f"{answer['id']}:acknowledgement"]
    assert received.audio[f"{answer['id']}:answer"]
    # The acknowledgement is heard once the turn is routed to the council, before the chair writes a word.
    assert types.index("route") < types.index("audio.start") < types.index("synthesis.delta")


def preemptive_answers(main: ServiceProcess) -> dict[str, float]:
    """`council_voice_preemptive_answers_total` by outcome, from the main service's /metrics."""
    counts = {"used": 0.0, "wasted": 0.0}
    for line in httpx.get(f"{main.url}/metrics", timeout=10).text.splitlines():
        for outcome in counts:
            if line.startswith(f'council_voice_preemptive_answers_total{{outcome="{outcome}"}}'):
                counts[outcome] = float(line.split()[-1])
    return counts


def test_the_answer_starts_at_the_pause_and_is_played_once_the_turn_ends_with_those_words(
    main: ServiceProcess, voice: ServiceProcess
) -> None:
    # Smart Turn hears Piper's statement as unfinished (≈0.02) and its words are no question: the turn ends only at
    # the longest silence. The answer was started from the pause's transcript long before, unheard.
    before = preemptive_answers(main)
    with connect(voice_url(main)) as socket:
        received = Received(socket)
        received.until("ready")
        socket.send(json.dumps({"type": "config", "path": "fast"}))
        received.until("config")
        stream(socket, speech_pcm16k(voice, "I was wondering if you could help me plan a trip.", 2.0))
        transcript = received.until("transcript")[-1]
        start = received.until("audio.start", kind="answer")[-1]
        final = received.until("final")[-1]
    assert transcript["preemptive"] is True
    assert start["id"] == transcript["id"]
    types = received.types()
    assert types.index("transcript") < types.index("route")  # what it wrote before the turn ended follows it
    assert {event["id"] for event in received.events if "id" in event} == {transcript["id"]}
    assert preemptive_answers(main)["used"] == before["used"] + 1
    conversation = httpx.get(f"{main.url}/api/conversations/{final['thread_id']}", timeout=10).json()
    assert [message["role"] for message in conversation["messages"]] == ["user", "assistant"]


@pytest.fixture(scope="module")
def patient(tmp_path_factory: pytest.TempPathFactory, start_main_module: StartService) -> Iterator[ServiceProcess]:
    """A main service on a voice service whose longest silence is 3 s: room for a long thinking pause."""
    voice = voice_process(
        tmp_path_factory.mktemp("patient") / "voice.log",
        VOICE_LOG__LEVEL="DEBUG",
        VOICE_TTS__NOISE_SCALE="0",
        VOICE_TTS__NOISE_W_SCALE="0",
        VOICE_TURN__MAX_SILENCE_MS="3000",
    ).start()
    yield start_main_module(voice, COUNCIL_LLM__MAX_TOKENS="24")
    voice.stop()


def test_an_answer_started_at_a_pause_the_speaker_goes_on_from_is_thrown_away_unheard_and_unkept(
    patient: ServiceProcess, voice: ServiceProcess
) -> None:
    # "The council should vote on": Smart Turn hears it unfinished (≈0.01) and it ends on "on", so a 1.6 s pause
    # (≈1.8 s with Piper's own trailing silence, under the longest silence here) keeps the turn open; its transcript,
    # said at the pause (≈0.3-0.7 s into it), was answered in the background, and the speaker going on voids that
    # answer. The answer heard is the one started at the sentence's end, from the whole sentence.
    main = patient
    before = preemptive_answers(main)
    first = speech_pcm16k(voice, "The council should vote on", trailing_silence_s=1.6)
    rest = speech_pcm16k(voice, "the proposal after lunch.", trailing_silence_s=2.0)
    with connect(voice_url(main)) as socket:
        received = Received(socket)
        received.until("ready")
        socket.send(json.dumps({"type": "config", "path": "fast"}))
        received.until("config")
        stream(socket, first + rest)
        transcript = received.until("transcript")[-1]
        final = received.until("final")[-1]
    assert "lunch" in transcript["text"].lower()
    assert {event["id"] for event in received.events if "id" in event} == {transcript["id"]}
    after = preemptive_answers(main)
    assert after["wasted"] == before["wasted"] + 1
    assert after["used"] == before["used"] + transcript["preemptive"]
    conversation = httpx.get(f"{main.url}/api/conversations/{final['thread_id']}", timeout=10).json()
    users = [message["content"] for message in conversation["messages"] if message["role"] == "user"]
    assert users == [transcript["text"]]


def test_push_to_talk_ends_the_turn_on_commit_without_waiting_for_silence(
    main: ServiceProcess, voice: ServiceProcess
) -> None:
    # Manual turn detection: no speech events, and no turn however long the silence, until the button is released.
    with connect(voice_url(main)) as socket:
        received = Received(socket)
        received.until("ready")
        socket.send(json.dumps({"type": "config", "path": "fast", "turn_detection": "manual"}))
        assert received.until("config")[-1]["turn_detection"] == "manual"
        stream(socket, speech_pcm16k(voice, "What is the tallest mountain on Earth?", trailing_silence_s=2.0))
        socket.send(json.dumps({"type": "ping"}))
        received.until("pong")  # the utterance and 2 s of silence streamed in real time: semantic would have ended it
        assert "transcript" not in received.types()
        socket.send(json.dumps({"type": "commit"}))
        transcript = received.until("transcript")[-1]
        start = received.until("audio.start", kind="answer")[-1]
        received.until("audio.end", id=start["id"])
    assert "everest" in transcript["text"].lower() or "mountain" in transcript["text"].lower(), transcript
    assert "speech.started" not in received.types()
    assert "speech.stopped" not in received.types()
    assert received.audio[f"{start['id']}:answer"]


def test_voice_service_killed_mid_session_is_an_error_and_close_1013(
    start_voice: StartService, start_main: StartService
) -> None:
    voice = start_voice()
    main = start_main(voice, COUNCIL_VOICE__WATCH_INTERVAL_S="0.5")
    with connect(voice_url(main)) as socket:
        received = Received(socket)
        received.until("ready")
        voice.stop(signal.SIGKILL)
        error = json.loads(socket.recv(timeout=30))
        with pytest.raises(ConnectionClosed) as closed:
            read_until_closed(socket)
    assert (error["type"], error["code"]) == ("error", "voice_unavailable")
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1013
    assert httpx.post(f"{main.url}/api/chat", json={"message": "/fast hi"}, timeout=60).status_code == 200


def test_voice_down_is_a_clear_error_and_close_1013(start_main: StartService) -> None:
    main = start_main(free_port())  # nothing listens on the voice port
    with connect(voice_url(main)) as socket:
        error = json.loads(socket.recv(timeout=10))
        with pytest.raises(Exception, match="1013"):
            socket.recv(timeout=10)
    assert error["type"] == "error"
    assert error["code"] == "voice_unavailable"
    assert httpx.post(f"{main.url}/api/chat", json={"message": "/fast hi"}, timeout=60).status_code == 200
