"""Voice to voice over the OpenAI Realtime socket (`WS /v1/realtime?model=fast`) beside the project's `WS /ws/voice`,
in one run, on the same questions: what the Realtime protocol costs on top of the shared voice session.

Both services run as processes with `make run` defaults (only logs quieter), as in bench/voice_loop.py. Each question
is synthesized once (Piper, and espeak-ng's two voices when espeak-ng is on PATH; speech only, 16 kHz) and padded at
its front with silence to whole frames and appends, so that on both sockets the last frame holding speech ends with
the speech: `/ws/voice` gets 20 ms binary frames of it, `/v1/realtime` `input_audio_buffer.append` events of 100 ms
(--append-ms) of the same audio resampled to 24 kHz; both paced in real time, with silence before (0.5 s) and after,
as a microphone. (Silence is heard in appends: a fixed-silence end of turn comes up to one append later than in
20 ms frames.)
Each question is asked once on each socket, the fast path, a fresh session each; which socket goes first alternates
from one question to the next (A B, B A, ...), so that the machine's drift and any advantage of asking second (a warm
prompt cache) fall on both alike.
Moments, in ms after the end of speech (the last frame holding speech was sent): speech stopped (`speech.stopped` /
`input_audio_buffer.speech_stopped`), transcript (`transcript` / `conversation.item.input_audio_transcription.
completed`), first answer audio (the first audio after `audio.start` / `council.audio.started` of kind `answer`: a
binary frame / a `response.output_audio.delta`), the first audio of any kind and the turn's `final`; each socket's
median and p95, and realtime/ws ratios paired question by question.
Turn detection: a fixed silence by default (`silence` / `server_vad`, both the server's `COUNCIL_VOICE_WS__SILENCE_S`);
--turn-detection semantic compares the semantic end of turn. Both sockets are driven with `websockets` and the same
microphone and log (`_voice_client.VoiceSocket`), not the `openai` SDK: one client stack on both sides keeps the
client's own costs out of the ratio, and `scripts/bench` runs bench/voice/ with the voice service's venv, which has
no `openai`.
Usage: legacy-voice-service/.venv/bin/python bench/voice/realtime_socket.py [--rounds N] [--turn-detection MODE]
[--append-ms MS]; QUICK=1: 1 round.
"""

import argparse
import asyncio
import base64
import contextlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))  # the process harness the tests use
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _stats import paired_ratio, size_options, write_result
from _voice_audio import RATE, Speaker, Utterance, espeak_version
from _voice_client import (
    Received,
    Refused,
    Spoken,
    TurnLog,
    VoiceSocket,
    first,
    ms,
    of_turn,
)
from _voice_report import counts, figures

from servicekit import main_process, voice_process

REALTIME_RATE = 24_000
APPEND_MS = 100  # one append's audio by default, as browsers' audio worklets commonly batch (tests/realtime_client.py)
FRAME_MS = 20  # /ws/voice's binary frames (`_voice_client`)
LEAD_S = 0.5  # silence streamed before each utterance, as a microphone would
TURN_TIMEOUT_S = 90
SOCKETS = ("ws_voice", "realtime")
MOMENTS = ["speech_stopped_ms", "transcript_ms", "first_answer_audio_ms", "first_audio_any_kind_ms", "final_ms"]
DETECTION = {  # --turn-detection: what each socket is asked for
    "silence": ("silence", {"type": "server_vad"}),  # no silence_duration_ms: the server's, as /ws/voice's
    "semantic": ("semantic", {"type": "semantic_vad"}),
}
QUESTIONS = [  # bench/voice_loop.py's FAST_QUESTIONS (it is 3.13-only, this runs on 3.11 too: not imported)
    "What is the capital of France?", "How many legs does a spider have?", "What colour is a ripe banana?",
    "Who wrote the play Romeo and Juliet?", "What is the boiling point of water?", "How far away is the Moon?",
    "What is the largest ocean on Earth?", "Which planet is closest to the Sun?",
]  # fmt: skip
REFUSALS: dict[str, int] = {name: 0 for name in SOCKETS}  # handshakes refused (429, voice_unavailable), retried


@dataclass(frozen=True)
class Question:
    """One utterance in both sockets' formats: 16 kHz for `/ws/voice`, 24 kHz for `/v1/realtime`; both start with
    the same silence and end with the speech, on a boundary of both sockets' frames."""

    utterance: Utterance
    pcm16k: bytes
    pcm24k: bytes


@dataclass
class SpokenAt(Spoken):
    """`Spoken`, plus where the speech ended in the session's input audio (what `audio_end_ms` is measured on)."""

    end_audio_ms: int = 0


class RealtimeSocket(VoiceSocket):
    """`VoiceSocket`'s microphone and log, speaking the Realtime protocol: `input_audio_buffer.append` events of
    `append_ms` of 24 kHz s16le (silence when no utterance is queued), each due at start + n * `append_ms`; every
    server event is logged as it arrives, an audio delta as its byte count."""

    append_ms = APPEND_MS
    appended_bytes = 0  # input audio sent so far

    @classmethod
    async def open(
        cls, url: str, *, cancel_on_transcript: bool = False, append_ms: int = APPEND_MS
    ) -> "RealtimeSocket":
        socket = await connect(url, max_size=2**24, open_timeout=30)
        session = cls(socket, cancel_on_transcript)
        session.append_ms = append_ms
        created = json.loads(await asyncio.wait_for(socket.recv(), 30))
        if created.get("type") != "session.created":
            await socket.close()
            raise Refused(created.get("error") or created)  # `error` `voice_unavailable`, then a 1013 close
        session._tasks = [asyncio.create_task(session._receive()), asyncio.create_task(session._microphone())]
        return session

    async def update(self, session: dict[str, Any]) -> dict[str, Any]:
        """`session.update`; returns the server's answer: `session.updated` or an `error` event."""
        start = len(self.log)
        self.send_text({"type": "session.update", "session": session})
        answer = await self.wait_for(lambda r: r.type in ("session.updated", "error"), timeout=10, start=start)
        if answer is None or answer.event is None:
            raise TimeoutError("no answer to session.update")
        return answer.event

    @property
    def append_bytes(self) -> int:
        return REALTIME_RATE * 2 * self.append_ms // 1000

    async def say(self, pcm: bytes) -> SpokenAt:
        return await self._queue(pcm, SpokenAt(), self.append_bytes)

    async def _receive(self) -> None:
        async for message in self.socket:
            now = time.perf_counter()
            event = json.loads(message)
            if event.get("type") == "response.output_audio.delta":  # the audio is not kept, only its size
                size = len(base64.b64decode(event.pop("delta")))
                self.log.append(Received(now, event, audio_bytes=size))
            else:
                self.log.append(Received(now, event))

    async def _microphone(self) -> None:
        silence = bytes(self.append_bytes)
        due = time.perf_counter()
        while True:
            due += self.append_ms / 1000  # an append leaves when its audio has been "recorded"
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            while self._texts:
                await self.socket.send(self._texts.popleft())
            chunk, spoken, first_chunk, last_chunk = (
                self._frames.popleft() if self._frames else (silence, None, False, False)
            )
            audio = base64.b64encode(chunk).decode()
            await self.socket.send(json.dumps({"type": "input_audio_buffer.append", "audio": audio}))
            self.appended_bytes += len(chunk)
            if spoken is not None:
                now = time.perf_counter()
                if first_chunk:
                    spoken.onset = now
                if last_chunk:
                    spoken.end = now
                    if isinstance(spoken, SpokenAt):
                        spoken.end_audio_ms = self.appended_bytes * 1000 // (REALTIME_RATE * 2)
                    spoken.done.set()


async def opened(name: str, open_session: Callable[[], Awaitable[VoiceSocket]]) -> VoiceSocket:
    """A session, retried for up to 30 s while the server is full (429) or the voice service refuses it."""
    for _ in range(30):
        try:
            return await open_session()
        except Refused as refused:
            if refused.event.get("code") != "voice_unavailable":
                raise
        except InvalidStatus as refused:
            if refused.response.status_code != 429:
                raise
        REFUSALS[name] += 1
        await asyncio.sleep(1.0)
    return await open_session()


# -- /ws/voice --------------------------------------------------------------------------------------------------------


async def ask_ws_voice(url: str, detection: str, question: Question) -> dict[str, Any]:
    session = await opened("ws_voice", lambda: VoiceSocket.open(url))
    try:
        echo = await session.configure(path="fast", turn_detection=detection)  # no thread_id: a new thread
        if echo["type"] != "config":
            raise RuntimeError(f"config refused: {echo}")
        await asyncio.sleep(LEAD_S)
        spoken = await session.say(question.pcm16k)
        log = session.log
        await session.wait_until(session.turn_settled, timeout=TURN_TIMEOUT_S)
    finally:
        await session.close()
    return ws_voice_timeline(log, spoken)


def ws_voice_timeline(log: list[Received], spoken: Spoken) -> dict[str, Any]:
    """The turn's moments after the end of speech; the turn is the one that produced `final` (else the last heard)."""
    turn = TurnLog.of(log)
    route = first(log, of_turn("route", turn.turn))
    return turn.moments(spoken.end) | {
        "route": {k: (route.event or {}).get(k) for k in ("path", "cached")} if route else None,
        "events": None if turn.answer else event_types(log),
    }


# -- /v1/realtime -----------------------------------------------------------------------------------------------------


async def ask_realtime(url: str, detection: dict[str, Any], append_ms: int, question: Question) -> dict[str, Any]:
    session = await opened("realtime", lambda: RealtimeSocket.open(url, append_ms=append_ms))
    assert isinstance(session, RealtimeSocket)
    try:
        fmt = {"type": "audio/pcm", "rate": REALTIME_RATE}
        updated = await session.update({
            "type": "realtime",
            "output_modalities": ["audio"],
            "audio": {
                "input": {"format": fmt, "turn_detection": detection, "transcription": {"model": "whisper-1"}},
                "output": {"format": fmt},
            },
        })  # fmt: skip
        if updated["type"] != "session.updated":
            raise RuntimeError(f"session.update refused: {updated}")
        await asyncio.sleep(LEAD_S)
        spoken = await session.say(question.pcm24k)
        log = session.log

        def settled() -> bool:  # answer audio and `council.final`, a response over (failed, cancelled), an error
            done = first(log, lambda r: r.type == "response.done")
            final = first(log, lambda r: r.type == "council.final")
            error = first(log, lambda r: r.type == "error")
            return bool((realtime_answer_audio(log) and final) or done or error)

        await session.wait_until(settled, timeout=TURN_TIMEOUT_S)
        await asyncio.sleep(0.1)  # the events sent with the one that settled it
    finally:
        await session.close()
    return realtime_timeline(log, spoken, updated)


def realtime_audio(log: list[Received]) -> list[tuple[Received, str | None]]:
    """Every `response.output_audio.delta` with the `kind` of the `council.audio.started` of its response before
    it (None: no such event)."""
    kinds: dict[str | None, str] = {}
    deltas = []
    for r in log:
        response = (r.event or {}).get("response_id")
        if r.type == "council.audio.started":
            kinds[response] = (r.event or {}).get("kind") or "answer"
        elif r.type == "response.output_audio.delta":
            deltas.append((r, kinds.get(response)))
    return deltas


def realtime_answer_audio(log: list[Received], response: str | None = None) -> Received | None:
    return next(
        (r for r, kind in realtime_audio(log)
         if kind == "answer" and (response is None or (r.event or {}).get("response_id") == response)),
        None,
    )  # fmt: skip


def realtime_timeline(log: list[Received], spoken: SpokenAt, updated: dict[str, Any]) -> dict[str, Any]:
    """The turn's moments after the end of speech; the turn is the response that reached `council.final` (else the
    last one created), its transcript the last one completed before that response was created."""
    final = first(log, lambda r: r.type == "council.final")
    created = [r for r in log if r.type == "response.created"]
    response_id = (final.event or {}).get("response_id") if final else None
    if response_id is None and created:
        response_id = (created[-1].event or {}).get("response", {}).get("id")
    began = next((r for r in created if (r.event or {}).get("response", {}).get("id") == response_id), None)
    transcripts = [r for r in log if r.type == "conversation.item.input_audio_transcription.completed"]
    heard = [r for r in transcripts if began is None or r.t <= began.t]
    transcript = heard[-1] if heard else None
    stopped = [r for r in log if r.type == "input_audio_buffer.speech_stopped"
               and (transcript is None or r.t <= transcript.t)]  # fmt: skip
    route = first(log, lambda r: r.type == "council.route" and (r.event or {}).get("response_id") == response_id)
    deltas = [r for r, _ in realtime_audio(log) if (r.event or {}).get("response_id") == response_id]
    answer = realtime_answer_audio(log, response_id)
    done = first(log, lambda r: r.type == "response.done" and (r.event or {}).get("response", {}).get("id") == response_id)  # fmt: skip
    error = first(log, lambda r: r.type == "error")
    z = spoken.end
    stop_at = (stopped[-1].event or {}).get("audio_end_ms") if stopped else None
    return {
        "turns": len(transcripts),
        "transcript_text": (transcript.event or {}).get("transcript") if transcript else None,
        "route": {k: (route.event or {}).get(k) for k in ("path", "cached")} if route else None,
        "speech_stopped_ms": ms(stopped[-1].t if stopped else None, z),
        # where the server put the end of speech in the input audio, against where it is (+: later)
        "speech_stopped_audio_end_ms_error": stop_at - spoken.end_audio_ms if isinstance(stop_at, int) else None,
        "transcript_ms": ms(transcript.t if transcript else None, z),
        "first_answer_audio_ms": ms(answer.t if answer else None, z),
        "first_audio_any_kind_ms": ms(deltas[0].t if deltas else None, z),
        "final_ms": ms(final.t if final else None, z),
        "response_status": (done.event or {}).get("response", {}).get("status") if done else None,
        "turn_detection": updated.get("session", {}).get("audio", {}).get("input", {}).get("turn_detection"),
        "error": (error.event or {}).get("error") if error else None,
        "events": None if answer else event_types(log),
    }


def event_types(log: list[Received]) -> list[str]:
    """What the server sent, in order, runs of one type collapsed (`type x N`): the record of a turn that failed."""
    runs: list[list[Any]] = []
    for r in log:
        if runs and runs[-1][0] == r.type:
            runs[-1][1] += 1
        else:
            runs.append([r.type, 1])
    return [kind if n == 1 else f"{kind} x{n}" for kind, n in runs]


# -- the run ----------------------------------------------------------------------------------------------------------


def question(speaker: Speaker, synthesizer: str, text: str, append_ms: int) -> Question:
    """`text` spoken, silence-padded at its front to whole frames and appends, in both rates (24 kHz: linear interpolation of
    the 16 kHz speech, so that both sockets hear the same band-limited audio)."""
    utterance = speaker.say(synthesizer, text)
    samples = np.frombuffer(utterance.pcm, dtype="<i2")
    block = RATE * math.lcm(FRAME_MS, append_ms) // 1000
    samples = np.concatenate([np.zeros(-len(samples) % block, dtype=np.int16), samples])
    positions = np.arange(len(samples) * REALTIME_RATE // RATE) * RATE / REALTIME_RATE
    upsampled = np.interp(positions, np.arange(len(samples)), samples.astype(np.float64))
    pcm24k = np.clip(np.round(upsampled), -32768, 32767).astype("<i2").tobytes()
    return Question(utterance, samples.astype("<i2").tobytes(), pcm24k)


async def measure(args: argparse.Namespace, main_url: str, voice_url: str) -> dict[str, list[dict[str, Any]]]:
    ws_url = main_url.replace("http", "ws", 1)
    ws_detection, realtime_detection = DETECTION[args.turn_detection]
    ask: dict[str, Callable[[Question], Awaitable[dict[str, Any]]]] = {
        "ws_voice": lambda q: ask_ws_voice(f"{ws_url}/ws/voice", ws_detection, q),
        "realtime": lambda q: ask_realtime(f"{ws_url}/v1/realtime?model=fast", realtime_detection, args.append_ms, q),
    }
    speaker = Speaker(voice_url, use_espeak=shutil.which("espeak-ng") is not None)
    warm_up = question(speaker, "piper", "Hello, can you hear me?", args.append_ms)
    for name in SOCKETS:
        await ask[name](warm_up)  # not counted: the first turn of a process loads and warms what it needs
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in SOCKETS}
    for i in range(args.rounds):
        synthesizer = speaker.synthesizers[i % len(speaker.synthesizers)]
        asked = question(speaker, synthesizer, QUESTIONS[i % len(QUESTIONS)], args.append_ms)
        for position, name in enumerate(SOCKETS if i % 2 == 0 else SOCKETS[::-1]):
            sample = {"round": i, "position": position, "synthesizer": synthesizer,
                      "question": asked.utterance.text, "speech_s": round(asked.utterance.seconds, 2),
                      **await ask[name](asked)}  # fmt: skip
            samples[name].append(sample)
            print(f"[{name}] {i + 1}/{args.rounds}: {sample}", flush=True)
    return samples


def latency(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    block: dict[str, Any] = {key.removesuffix("_ms"): figures(r[key] for r in rounds) for key in MOMENTS}
    block["turn_end_reasons"] = counts(r.get("speech_stopped_reason") for r in rounds)
    block["paths"] = counts((r["route"] or {}).get("path") for r in rounds)
    block["cached_answers"] = sum(bool((r["route"] or {}).get("cached")) for r in rounds)
    block["rounds"] = len(rounds)
    block["rounds_without_answer_audio"] = sum(r["first_answer_audio_ms"] is None for r in rounds)
    block["rounds_with_error"] = sum(r["error"] is not None for r in rounds)
    block["rounds_with_more_than_one_turn"] = sum(r["turns"] > 1 for r in rounds)
    return block


def ratios(samples: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """realtime / ws_voice per moment, over the questions both sockets answered with that moment."""
    out: dict[str, Any] = {}
    for key in MOMENTS[:3]:
        pairs = [(r[key], w[key]) for r, w in zip(samples["realtime"], samples["ws_voice"], strict=True)
                 if r[key] is not None and w[key]]  # fmt: skip
        if pairs:
            out[key.removesuffix("_ms")] = paired_ratio([r for r, _ in pairs], [w for _, w in pairs])
    return out


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size_options(parser, rounds=(1, 6))  # questions, each asked on both sockets
    parser.add_argument("--turn-detection", choices=sorted(DETECTION), default="silence")
    parser.add_argument(
        "--append-ms", type=int, default=APPEND_MS,
        help="audio per input_audio_buffer.append (the server takes up to 1000); 20: /ws/voice's frame",
    )  # fmt: skip
    return parser.parse_args()


def main() -> None:
    args = options()
    started, load_at_start = time.perf_counter(), round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory() as scratch, contextlib.ExitStack() as running:
        voice = voice_process(Path(scratch) / "voice.log", VOICE_LOG__LEVEL="WARNING")
        running.callback(voice.stop)
        voice.start()
        main_service = main_process(Path(scratch) / "main.log", voice.port, COUNCIL_LOG__LEVEL="WARNING")
        running.callback(main_service.stop)
        main_service.start()
        samples = asyncio.run(measure(args, main_service.url, voice.url))
    result = {
        "path": "fast",
        "turn_detection": {
            "ws_voice": DETECTION[args.turn_detection][0],
            "realtime": DETECTION[args.turn_detection][1],
        },
        "rounds": args.rounds,
        "order": "each question on both sockets, a fresh session each; the first socket alternates per question",
        "end_of_speech": "the last frame holding speech sent (a 20 ms binary frame / an input_audio_buffer.append)",
        "realtime_append_ms": args.append_ms,
        "espeak_ng": espeak_version(),
        "voice_to_voice_ms_after_end_of_speech": {name: latency(samples[name]) for name in SOCKETS},
        "realtime_over_ws_voice": ratios(samples),
        "handshakes_refused_then_retried": REFUSALS,
        "wall_time_s": round(time.perf_counter() - started, 1),
        "load_average_1m_at_start": load_at_start,
        "samples": samples,
    }
    write_result("realtime_socket", result)


if __name__ == "__main__":
    main()
