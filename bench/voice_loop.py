"""Voice loop through `WS /ws/voice` on the embedded stack: voice-to-voice latency, barge-in, false cut-offs.

Both services run as processes with `make run` defaults (only logs quieter); a client streams 16 kHz speech in
real time, 20 ms frames, silence between and after utterances, and stamps every server frame on one clock.
- Voice to voice (fast and council paths): end of user speech (the last frame holding speech was sent) → the first
  answer-audio frame received, plus `speech.stopped`, `transcript`, first text, the chair's first synthesis delta,
  `final` and the first audio of any kind (an acknowledgement counts).
- Barge-in: a real interruption spoken 0.5 s into the answer's audio; onset (its first frame sent) → the last
  audio frame of the old turn received, → the server's first stop signal for it, and → the moment a client that
  plays in real time and flushes on that signal goes quiet.
- Turn taking: utterances with a 400-900 ms pause mid-sentence; more than one turn (`speech.stopped`) is a false
  cut-off; on complete utterances, end of speech → `speech.stopped`.
Utterances rotate over three voices: Piper, espeak-ng (US) and espeak-ng's British voice, slower; latency is also
given per voice, and every turn keeps the `reason` of the `speech.stopped` that ended it.
Each figure is taken per turn-detection mode, alternating, when the server takes `turn_detection` in its config;
otherwise (today's server) the fixed-silence baseline alone, marked as such. Targets are printed, not asserted.
With --baseline DIR a second pair of services runs DIR's sources (e.g. `git worktree add /tmp/baseline HEAD`) and
every measurement is taken on both stacks, one at a time, the same utterances in the same order, interleaved;
--current-env NAME=VALUE sets a setting on the current stack only. Also counted: answers started before the turn
ended (`transcript.preemptive`, and the main service's council_voice_preemptive_answers_total, used and wasted).
Usage: main-service/.venv/bin/python bench/voice_loop.py [--rounds N] [--baseline DIR] ...; QUICK=1: 1 round.
"""

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the process harness the tests use
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stats import write_result
from _voice_audio import PAUSE_PAIRS, Speaker, Utterance, espeak_available, espeak_version
from _voice_client import (
    Received,
    Refused,
    Spoken,
    TurnLog,
    VoiceSocket,
    answer_audio,
    audio_frames,
    first,
    ms,
    of_turn,
)
from _voice_report import print_targets, side_by_side, stack_report

from servicekit import main_process, voice_process

SILENCE_ONLY = "silence_only_baseline"  # the mode name when the server has no `turn_detection` (fixed silence)
LEAD_S = 0.5  # silence streamed before each utterance, as a microphone would
FAST_QUESTIONS = [
    "What is the capital of France?", "How many legs does a spider have?", "What colour is a ripe banana?",
    "Who wrote the play Romeo and Juliet?", "What is the boiling point of water?", "How far away is the Moon?",
    "What is the largest ocean on Earth?", "Which planet is closest to the Sun?",
]  # fmt: skip
COUNCIL_QUESTIONS = [
    "Should a small town build a new library or fix its roads first?",
    "Is it better to rent or to buy a home in a big city?",
    "Should schools teach programming to every child?",
    "Is working from home good for a young team?",
    "Should our city ban cars from the old town centre?",
    "Is nuclear power a good way to cut carbon emissions?",
]
LONG_ANSWER_QUESTION = "Tell me a long story about a brave knight and a friendly dragon."
INTERRUPTION = "Wait, stop, please tell me the capital of Spain instead."
PAUSES_MS = (400, 550, 700, 900)
REFUSALS: dict[str, list[dict[str, Any]]] = {}  # per socket URL: handshakes answered `voice_unavailable`, retried


@dataclass
class Stack:
    """One pair of services under test: `current` (this repository or --source) or `baseline` (--baseline), its
    socket, the turn-detection modes it takes, and the samples measured on it (per mode, then per path)."""

    name: str
    source: Path | None
    env: dict[str, str] = field(default_factory=dict)  # this stack's own settings (VOICE_ and COUNCIL_ variables)
    preemptive: dict[str, Any] = field(default_factory=dict)  # read off the main service before it stops
    url: str = ""
    main_url: str = ""
    voice_url: str = ""
    modes: dict[str, dict[str, Any]] = field(default_factory=dict)
    v2v: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    barge_ins: list[dict[str, Any]] = field(default_factory=list)
    heard: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


type Measure = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]  # (socket URL, mode config) -> a sample


class Interleaved:
    """The stacks, measured one at a time on the same utterance; which goes first alternates from one utterance to
    the next, so that drift in the machine's load hits every stack alike."""

    def __init__(self, stacks: list[Stack]) -> None:
        self.stacks = stacks
        self.slots = max(len(stack.modes) for stack in stacks)  # modes per utterance; a stack with fewer skips some
        self._calls = 0

    async def each(self, slot: int | None, measure: Measure) -> AsyncIterator[tuple[Stack, str, dict[str, Any]]]:
        """`measure` on every stack with its `slot`-th mode (None: the server's default, "default")."""
        order = self.stacks if self._calls % 2 == 0 else self.stacks[::-1]
        self._calls += 1
        for stack in order:
            modes = [("default", {})] if slot is None else list(stack.modes.items())[slot : slot + 1]
            for name, mode in modes:
                yield stack, name, await measure(stack.url, mode)


async def connect(url: str, cancel_on_transcript: bool = False) -> VoiceSocket:
    """A session, retried for up to 30 s while the server answers `voice_unavailable` (counted in the result)."""
    for _ in range(30):
        try:
            return await VoiceSocket.open(url, cancel_on_transcript=cancel_on_transcript)
        except Refused as refused:
            if refused.event.get("code") != "voice_unavailable":
                raise
            REFUSALS.setdefault(url, []).append(
                {"code": refused.event.get("code"), "message": refused.event.get("message")}
            )
            await asyncio.sleep(1.0)
    return await VoiceSocket.open(url, cancel_on_transcript=cancel_on_transcript)


async def open_session(url: str, mode: dict[str, Any], **config: Any) -> tuple[VoiceSocket, dict[str, Any]]:
    session = await connect(url, cancel_on_transcript=not config.get("speak", True))
    echo = await session.configure(**mode, **config)  # a new thread per session, its ID minted by the server
    if echo["type"] != "config":
        await session.close()
        raise RuntimeError(f"config refused: {echo}")
    await asyncio.sleep(LEAD_S)
    return session, echo


async def probe_modes(url: str) -> dict[str, dict[str, Any]]:
    """The modes to compare: semantic and silence if the server takes `turn_detection`, else the baseline alone."""
    session = await connect(url)
    try:
        answer = await session.configure(turn_detection="semantic")
    finally:
        await session.close()
    if answer["type"] == "config":
        return {"semantic": {"turn_detection": "semantic"}, "silence": {"turn_detection": "silence"}}
    return {SILENCE_ONLY: {}}


async def voice_to_voice(url: str, mode: dict[str, Any], path: str, question: Utterance) -> dict[str, Any]:
    session, echo = await open_session(url, mode, path=path)
    try:
        spoken = await session.say(question.pcm)
        log = session.log
        await session.wait_until(session.turn_settled, timeout=180 if path == "council" else 90)
    finally:
        await session.close()
    return timeline(log, spoken, question, path) | {"turn_detection": echo.get("turn_detection")}


def timeline(log: list[Received], spoken: Spoken, question: Utterance, path: str) -> dict[str, Any]:
    """The turn's moments in ms after the end of speech; the turn is the one that produced `final`."""
    turn = TurnLog.of(log)
    text = first(
        log, lambda r: r.type in ("member.delta", "synthesis.delta") and (r.event or {}).get("id") == turn.turn
    )
    chair = first(log, of_turn("synthesis.delta", turn.turn))
    transcript, answer, z = turn.transcript, turn.answer, spoken.end
    return turn.moments(z) | {
        "path": path, "synthesizer": question.synthesizer, "question": question.text,
        "speech_s": round(question.seconds, 2),
        "answer_started_before_the_turn_ended": (transcript.event or {}).get("preemptive") if transcript else None,
        "first_text_ms": ms(text.t if text else None, z),
        "chair_first_delta_ms": ms(chair.t if chair else None, z),
        "answer_audio_after_chair_delta_ms": ms(answer.t, chair.t) if answer and chair else None,
    }  # fmt: skip


async def barge_in(
    url: str, mode: dict[str, Any], question: Utterance, interruption: Utterance, delay_s: float
) -> dict[str, Any]:
    session, echo = await open_session(url, mode, path="fast")
    log = session.log
    try:
        await session.say(question.pcm)
        await session.wait_until(lambda: answer_audio(log) is not None, timeout=90)
        first_frame = answer_audio(log)
        if first_frame is None:
            return {"error": "no answer audio to interrupt", "events": [r.type for r in log if r.event][-8:]}
        old = next(t for r, t, _ in audio_frames(log) if r is first_frame)
        await asyncio.sleep(max(0.0, first_frame.t + delay_s - time.perf_counter()))
        spoken = await session.say(interruption.pcm)
        # The turn holding the interruption's end has been transcribed (it may have been split into more turns).
        stopped = await session.wait_for(lambda r: r.type == "speech.stopped" and r.t > spoken.end, timeout=30)
        if stopped is not None:
            await session.wait_for(lambda r: r.type == "transcript" and r.t > stopped.t, timeout=30)
        await asyncio.sleep(0.5)  # late frames of the old turn, if any
    finally:
        await session.close()
    onset = spoken.onset
    frames = [r for r, t, _ in audio_frames(log) if t == old]
    ended = first(log, of_turn("audio.end", old))
    stop = first(log, lambda r: r.type in ("audio.paused", "barge_in", "cancelled") and r.t >= onset
                 and (r.event or {}).get("id") == old)  # fmt: skip
    playing_until = frames[0].t
    for frame in frames:  # real-time playback from the first frame; waits when a frame comes late
        playing_until = max(playing_until, frame.t) + frame.audio_bytes / 2 / 24_000
    audible_end = min(stop.t, playing_until) if stop else playing_until
    heard = [r.event or {} for r in log if r.type == "transcript" and (r.event or {}).get("id") != old]
    return {
        "synthesizer": interruption.synthesizer,
        "turn_detection": echo.get("turn_detection"),
        "answer_audio_s_received": round(sum(f.audio_bytes for f in frames) / 2 / 24_000, 2),
        "audio_still_arriving_at_onset": not (ended and ended.t < onset) and frames[-1].t >= onset,
        "answer_over_before_onset": playing_until < onset,
        "last_answer_frame_ms": ms(frames[-1].t, onset),
        "unplayed_at_last_frame_s": round(playing_until - frames[-1].t, 2),  # sent ahead of real-time playback
        "stop_signal": stop.type if stop else None,
        "stop_signal_ms": ms(stop.t if stop else None, onset),
        "audible_stop_ms": ms(audible_end, onset),
        "stopped_by_signal": bool(stop and stop.t <= playing_until),
        "resumed": any(r.type == "audio.resumed" and (r.event or {}).get("id") == old for r in log),
        "interruption_transcripts": [event.get("text") for event in heard],
    }


async def turn_taking(url: str, mode: dict[str, Any], utterance: Utterance) -> dict[str, Any]:
    session, echo = await open_session(url, mode, path="fast", speak=False)
    log = session.log
    try:
        spoken = await session.say(utterance.pcm)
        end = spoken.end

        # The turn that holds the end of speech has ended; then 1 s more, for a further turn if it was split after all.
        await session.wait_for(lambda r: r.type == "speech.stopped" and r.t > end, timeout=15)
        await asyncio.sleep(1.0)
    finally:
        await session.close()
    stops = [r for r in log if r.type == "speech.stopped" and r.t >= spoken.onset]
    after_end = next((r for r in stops if r.t > spoken.end), None)
    return {
        "utterance": utterance.label,
        "synthesizer": utterance.synthesizer,
        "pause_ms": utterance.pause_ms,
        "turn_detection": echo.get("turn_detection"),
        "turns": len(stops),
        "reasons": [(r.event or {}).get("reason") for r in stops],
        "end_to_speech_stopped_ms": ms(after_end.t if after_end else None, spoken.end),
    }


async def run(args: argparse.Namespace, stacks: list[Stack]) -> list[str]:
    """Every measurement on every stack, interleaved; the samples land on the stacks. Returns the voices used."""
    speaker = Speaker(stacks[0].voice_url, use_espeak=espeak_available())
    for stack in stacks:
        stack.modes = await probe_modes(stack.url)
        stack.v2v = {mode: {"fast": [], "council": []} for mode in stack.modes}
        stack.heard = {mode: [] for mode in stack.modes}
        print(f"[{stack.name}] turn detection modes: {list(stack.modes)}", flush=True)
    print(f"synthesizers: {speaker.synthesizers}", flush=True)
    hello = speaker.say("piper", "Hello, can you hear me?")
    for stack in stacks:
        await voice_to_voice(stack.url, {}, "fast", hello)  # warm-up, not counted
    turns = Interleaved(stacks)
    await measure_voice_to_voice(turns, speaker, args.rounds)
    await measure_barge_ins(turns, speaker, args.barge_ins, args.barge_in_delay)
    await measure_turn_taking(turns, turn_taking_set(speaker, args.pause_utterances, args.complete_utterances))
    return speaker.synthesizers


async def measure_voice_to_voice(turns: Interleaved, speaker: Speaker, rounds: int) -> None:
    synths = speaker.synthesizers
    for i in range(rounds):
        for path, questions in (("fast", FAST_QUESTIONS), ("council", COUNCIL_QUESTIONS)):
            for j in range(turns.slots):  # a fresh question each time: nothing is cached
                question = speaker.say(synths[i % len(synths)], questions[(i * turns.slots + j) % len(questions)])
                async for stack, mode, sample in turns.each(j, partial(voice_to_voice, path=path, question=question)):
                    stack.v2v[mode][path].append(sample)
                    print(f"[{stack.name}] voice_to_voice {mode} {path} {i + 1}/{rounds}: {sample}", flush=True)


async def measure_barge_ins(turns: Interleaved, speaker: Speaker, count: int, delay_s: float) -> None:
    synths = speaker.synthesizers
    for i in range(count):
        synth = synths[i % len(synths)]
        measure = partial(barge_in, question=speaker.say(synth, LONG_ANSWER_QUESTION),
                          interruption=speaker.say(synth, INTERRUPTION), delay_s=delay_s)  # fmt: skip
        async for stack, _, sample in turns.each(None, measure):
            stack.barge_ins.append(sample)
            print(f"[{stack.name}] barge_in {i + 1}/{count}: {sample}", flush=True)


def turn_taking_set(speaker: Speaker, pause_count: int, complete_count: int) -> list[Utterance]:
    """Paused utterances (pairs, pauses and voices in rotation: each pause in every voice once in every
    len(PAUSES_MS) * voices), then the same sentences spoken whole (each pair in every voice in turn)."""
    synths = speaker.synthesizers
    utterances = []
    for i in range(pause_count):
        (head, tail), pause = PAUSE_PAIRS[i % len(PAUSE_PAIRS)], PAUSES_MS[i % len(PAUSES_MS)]
        utterances.append(speaker.with_pause(synths[(i + i // len(PAUSES_MS)) % len(synths)], head, tail, pause))
    for i in range(complete_count):
        head, tail = PAUSE_PAIRS[i % len(PAUSE_PAIRS)]
        utterances.append(speaker.say(synths[(i + i // len(PAUSE_PAIRS)) % len(synths)], f"{head} {tail}"))
    return utterances


async def measure_turn_taking(turns: Interleaved, utterances: list[Utterance]) -> None:
    for utterance in utterances:
        for j in range(turns.slots):
            async for stack, mode, sample in turns.each(j, partial(turn_taking, utterance=utterance)):
                stack.heard[mode].append(sample)
                print(f"[{stack.name}] turn_taking {mode}: {sample}", flush=True)


def stack_result(stack: Stack, synths: list[str], args: argparse.Namespace) -> dict[str, Any]:
    refusals = REFUSALS.get(stack.url, [])
    return {
        "turn_detection_modes": list(stack.modes),
        "baseline_only": list(stack.modes) == [SILENCE_ONLY],
        "synthesizers": synths,
        "espeak_ng": espeak_version(),
        "rounds_per_path_and_mode": args.rounds,
        **stack_report(synths, stack.v2v, stack.barge_ins, stack.heard, args.barge_in_delay),
        "handshakes_refused_then_retried": len(refusals),
        "refusals": refusals[:5],
        "preemptive_answers": stack.preemptive,
        "own_settings": stack.env,
        "samples": {"voice_to_voice": stack.v2v, "barge_in": stack.barge_ins, "turn_taking": stack.heard},
        "source": str(stack.source.resolve()) if stack.source else "this repository",
    }


def preemptive_answers(stack: Stack) -> dict[str, Any]:
    """Answers the main service started at a pause before the turn ended, over the whole run (every session: voice to
    voice, barge-in and turn taking), by outcome: used (the turn ended with those words) or wasted."""
    counts = {"used": 0.0, "wasted": 0.0}
    for line in httpx.get(f"{stack.main_url}/metrics", timeout=10).text.splitlines():
        for outcome in counts:
            if line.startswith(f'council_voice_preemptive_answers_total{{outcome="{outcome}"}}'):
                counts[outcome] = float(line.split()[-1])
    started = counts["used"] + counts["wasted"]
    return counts | {"wasted_share": round(counts["wasted"] / started, 3) if started else None}


def start(stack: Stack, scratch: Path, main_env: dict[str, str], running: contextlib.ExitStack) -> None:
    """The stack's services, each stopped when `running` closes, with logs, conversations and ledger in a folder of
    their own; `make run` defaults, warning-level logs to keep log writing out of the measurement."""
    folder = scratch / stack.name
    folder.mkdir()
    voice = voice_process(
        folder / "voice.log",
        VOICE_LOG__LEVEL="WARNING",
        **own(stack, "VOICE_"),
        **source_path(stack, "legacy-voice-service"),
    )
    running.callback(voice.stop)
    voice.start()
    main_env = {
        "COUNCIL_LOG__LEVEL": "WARNING",
        **main_env,
        **own(stack, "COUNCIL_"),
        **source_path(stack, "main-service"),
    }
    main_service = main_process(folder / "main.log", voice.port, **main_env)
    running.callback(main_service.stop)
    main_service.start()
    stack.url, stack.main_url, stack.voice_url = (
        main_service.url.replace("http", "ws", 1) + "/ws/voice",
        main_service.url,
        voice.url,
    )


def own(stack: Stack, prefix: str) -> dict[str, str]:
    return {name: value for name, value in stack.env.items() if name.startswith(prefix)}


def source_path(stack: Stack, service: str) -> dict[str, str]:
    """PYTHONPATH at the stack's tree's sources, ahead of the venv's editable install of this repository's."""
    return {"PYTHONPATH": str(stack.source.resolve() / service / "src")} if stack.source else {}


def options() -> argparse.Namespace:
    quick = bool(os.environ.get("QUICK"))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--rounds",
        type=int,
        default=1 if quick else 6,
        help="voice-to-voice turns per path and mode (a multiple of the 3 voices keeps them balanced)",
    )
    parser.add_argument("--barge-ins", type=int, default=1 if quick else 5)
    parser.add_argument("--barge-in-delay", type=float, default=0.5, help="s of answer audio before interrupting")
    parser.add_argument(
        "--pause-utterances",
        type=int,
        default=4 if quick else 24,
        help="each run once per mode (every 12: each of the 4 pauses in each of the 3 voices)",
    )
    parser.add_argument("--complete-utterances", type=int, default=2 if quick else 12)
    parser.add_argument(
        "--source",
        type=Path,
        help="run the services from this tree's main-service/src and legacy-voice-service/src "
        "with this repo's venvs, e.g. `git worktree add /tmp/old <commit>` for a baseline (default: this repo)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="also start a second pair of services from DIR's sources (this repo's venvs), e.g. `git worktree add "
        "/tmp/baseline HEAD`, and take every measurement on both stacks, one at a time, interleaved; the report "
        "puts `current` and `baseline` side by side",
    )
    parser.add_argument(
        "--current-env", action="append", default=[], metavar="NAME=VALUE",
        help="a VOICE_ or COUNCIL_ setting for the current stack only (repeatable), e.g. with --baseline . to "
        "compare VOICE_TURN__SHORT_SILENCE_MS=200 against the default on the same code in one run",
    )  # fmt: skip
    parser.add_argument(
        "--main-env", action="append", default=[], metavar="COUNCIL_NAME=VALUE",
        help="a main-service setting for this run (repeatable; for both stacks), e.g. "
        "COUNCIL_DELIBERATION__SPOKEN_MEMBER_MAX_TOKENS=256 to compare a setting's effect run against run",
    )  # fmt: skip
    return parser.parse_args()


def main() -> None:
    args = options()
    main_env = dict(setting.split("=", 1) for setting in args.main_env)
    own_env = dict(setting.split("=", 1) for setting in args.current_env)
    stacks = [Stack("current", args.source, own_env), *([Stack("baseline", args.baseline)] if args.baseline else [])]
    started, load_at_start = time.perf_counter(), round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory() as scratch, contextlib.ExitStack() as running:
        for stack in stacks:
            start(stack, Path(scratch), main_env, running)
        synths = asyncio.run(run(args, stacks))
        for stack in stacks:
            stack.preemptive = preemptive_answers(stack)
    result = stack_result(stacks[0], synths, args) | {
        "wall_time_s": round(time.perf_counter() - started, 1),
        "load_average_1m_at_start": load_at_start,
        "main_settings": {k: v for k, v in main_env.items() if k.startswith("COUNCIL_")},
    }
    if args.baseline:
        result["baseline"] = stack_result(stacks[1], synths, args)
        result["targets_side_by_side"] = side_by_side(result["targets"], result["baseline"]["targets"])
    write_result("voice_loop", result)
    print_targets(result)


if __name__ == "__main__":
    main()
