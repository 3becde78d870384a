"""Voice loop through `WS /ws/voice` on the embedded stack: voice-to-voice latency, barge-in, false cut-offs.

Both services run as processes with `make run` defaults (only logs quieter); a client streams 16 kHz speech in
real time, 20 ms frames, silence between and after utterances, and stamps every server frame on one clock.
- Voice to voice (fast and council paths): end of user speech (the last frame holding speech was sent) → the first
  answer-audio frame received, plus `speech.stopped`, `transcript`, first text, the chair's first synthesis delta,
  `final` and the first audio of any kind (an acknowledgement counts).
- Barge-in: a real interruption spoken 0.5 s into the answer's audio; onset (its first frame sent) → the last
  audio frame of the old turn received, → the server's first stop signal for it, and → the moment a client that
  plays in real time and flushes on that signal goes quiet.
- Turn taking: utterances with a 400-900 ms pause mid-sentence (Piper and espeak-ng); more than one turn
  (`speech.stopped`) is a false cut-off; on complete utterances, end of speech → `speech.stopped`.
Each figure is taken per turn-detection mode, alternating, when the server takes `turn_detection` in its config;
otherwise (today's server) the fixed-silence baseline alone, marked as such. Targets are printed, not asserted.
Usage: main-service/.venv/bin/python bench/voice_loop.py [--rounds N] [--pause-utterances N] ...; QUICK=1: 1 round.
"""

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the process harness the tests use
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stats import summary, write_result
from _voice_audio import Speaker, Utterance, espeak_available, espeak_version
from _voice_client import Received, Refused, Spoken, VoiceSocket

from servicekit import main_process, voice_process

BASELINE = "silence_only_baseline"  # the mode name when the server has no `turn_detection` (fixed silence)
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
PAUSE_PAIRS = [
    ("I want to know", "the weather in Paris tomorrow"), ("Can you tell me", "how tall the Eiffel Tower is"),
    ("What I would really like is", "a short summary of the French revolution"),
    ("Please explain why", "the sky looks blue during the day"),
    ("My question is about", "the best way to learn a new language"),
    ("Could you compare", "the fast path and the council path"),
]  # fmt: skip
PAUSES_MS = (400, 550, 700, 900)
BARGE_IN_DEFINITION = (
    "onset = the first frame of the interrupting utterance sent. last_answer_frame: the last binary frame received "
    "that follows the old turn's audio.start (frames after its barge_in/audio.paused/cancelled count; the old turn's "
    "audio ends at its audio.end or the next audio.start), only in rounds where that audio was still arriving at "
    "onset. stop_signal: its first audio.paused, barge_in or cancelled. audible_stop: a client playing the audio in "
    "real time from its first frame and flushing on stop_signal goes quiet then (or when the audio ran out). "
    "unplayed_audio_at_last_frame: what such a client had received but not yet played when the last frame came."
)


def ms(t: float | None, zero: float) -> float | None:
    return None if t is None else round((t - zero) * 1000, 1)


def first(log: list[Received], predicate: Callable[[Received], bool]) -> Received | None:
    return next((r for r in log if predicate(r)), None)


def of_turn(kind: str, turn: str | None) -> Callable[[Received], bool]:
    return lambda r: r.type == kind and r.event is not None and r.event.get("id") == turn


def audio_frames(log: list[Received]) -> list[tuple[Received, str | None, str]]:
    """Every binary frame with the turn and kind of the `audio.start` it follows (no kind, as today: "answer")."""
    turn: str | None = None
    kind = "answer"
    frames = []
    for r in log:
        if r.event is None:
            frames.append((r, turn, kind))
        elif r.type == "audio.start":
            turn, kind = r.event.get("id"), r.event.get("kind") or "answer"
        elif r.type == "audio.end" and r.event.get("id") == turn:
            turn = None
    return frames


def answer_audio(log: list[Received], turn: str | None = None) -> Received | None:
    return next((r for r, t, k in audio_frames(log) if k == "answer" and (turn is None or t == turn)), None)


REFUSALS: list[dict[str, Any]] = []  # handshakes answered `voice_unavailable` (e.g. session cap), then retried


async def connect(url: str, cancel_on_transcript: bool = False) -> VoiceSocket:
    """A session, retried for up to 30 s while the server answers `voice_unavailable` (counted in the result)."""
    for _ in range(30):
        try:
            return await VoiceSocket.open(url, cancel_on_transcript=cancel_on_transcript)
        except Refused as refused:
            if refused.event.get("code") != "voice_unavailable":
                raise
            REFUSALS.append({"code": refused.event.get("code"), "message": refused.event.get("message")})
            await asyncio.sleep(1.0)
    return await VoiceSocket.open(url, cancel_on_transcript=cancel_on_transcript)


async def open_session(url: str, mode: dict[str, Any], **config: Any) -> tuple[VoiceSocket, dict[str, Any]]:
    session = await connect(url, cancel_on_transcript=not config.get("speak", True))
    echo = await session.configure(thread_id=f"bench-{uuid.uuid4().hex[:12]}", **mode, **config)
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
    return {BASELINE: {}}


async def voice_to_voice(url: str, mode: dict[str, Any], path: str, question: Utterance) -> dict[str, Any]:
    session, echo = await open_session(url, mode, path=path)
    try:
        spoken = await session.say(question.pcm)
        log = session.log

        def settled() -> bool:  # answer audio and `final`, a failed turn, or an answer with nothing to speak
            final = first(log, lambda r: r.type == "final")
            failed = first(log, lambda r: r.type == "error" and r.event is not None and "id" in r.event)
            unspoken = final and not (final.event or {}).get("answer") and time.perf_counter() - final.t > 3
            return bool((answer_audio(log) and final) or failed or unspoken)

        await session.wait_until(settled, timeout=180 if path == "council" else 90)
    finally:
        await session.close()
    return timeline(log, spoken, question, path) | {"turn_detection": echo.get("turn_detection")}


def timeline(log: list[Received], spoken: Spoken, question: Utterance, path: str) -> dict[str, Any]:
    """The turn's moments in ms after the end of speech; the turn is the one that produced `final`."""
    final = first(log, lambda r: r.type == "final")
    transcripts = [r for r in log if r.type == "transcript"]
    answered = final or (transcripts[-1] if transcripts else None)  # no final: the last turn heard
    turn = (answered.event or {}).get("id") if answered else None
    transcript = first(log, of_turn("transcript", turn))
    stopped = [r for r in log if r.type == "speech.stopped" and (transcript is None or r.t <= transcript.t)]
    text = first(log, lambda r: r.type in ("member.delta", "synthesis.delta") and (r.event or {}).get("id") == turn)
    chair = first(log, of_turn("synthesis.delta", turn))
    any_audio = next((r for r, t, _ in audio_frames(log) if t == turn), None)
    answer = answer_audio(log, turn)
    error = first(log, lambda r: r.type == "error")
    z = spoken.end
    return {
        "path": path, "synthesizer": question.synthesizer, "question": question.text,
        "speech_s": round(question.seconds, 2), "turns": len(transcripts),
        "transcript_text": (transcript.event or {}).get("text") if transcript else None,
        "speech_stopped_ms": ms(stopped[-1].t if stopped else None, z),
        "transcript_ms": ms(transcript.t if transcript else None, z),
        "first_text_ms": ms(text.t if text else None, z),
        "chair_first_delta_ms": ms(chair.t if chair else None, z),
        "final_ms": ms(final.t if final else None, z),
        "first_audio_any_kind_ms": ms(any_audio.t if any_audio else None, z),
        "first_answer_audio_ms": ms(answer.t if answer else None, z),
        "answer_audio_after_chair_delta_ms": ms(answer.t, chair.t) if answer and chair else None,
        "error": error.event if error else None,
    }  # fmt: skip


async def barge_in(url: str, question: Utterance, interruption: Utterance, delay_s: float) -> dict[str, Any]:
    session, echo = await open_session(url, {}, path="fast")
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


def figures(values: list[float | None], unit: str = "ms") -> dict[str, Any] | str:
    present = [v for v in values if v is not None]
    return summary(present, unit, digits=1) if present else "no samples"


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 1) if present else None


def target(figure: str, measured: float | None, goal: str, bound: float) -> dict[str, Any]:
    return {"figure": figure, "measured": measured, "target": goal, "met": measured is not None and measured <= bound}


async def run(args: argparse.Namespace, main_url: str, voice_url: str) -> dict[str, Any]:
    url = main_url.replace("http", "ws", 1) + "/ws/voice"
    speaker = Speaker(voice_url, use_espeak=espeak_available())
    synths = speaker.synthesizers
    modes = await probe_modes(url)
    print(f"turn detection modes: {list(modes)}; synthesizers: {synths}", flush=True)

    await voice_to_voice(url, {}, "fast", speaker.say("piper", "Hello, can you hear me?"))  # warm-up, not counted
    v2v: dict[str, dict[str, list[dict[str, Any]]]] = {m: {"fast": [], "council": []} for m in modes}
    for i in range(args.rounds):
        for path, questions in (("fast", FAST_QUESTIONS), ("council", COUNCIL_QUESTIONS)):
            for j, (name, mode) in enumerate(modes.items()):  # a fresh question each time: nothing is cached
                question = speaker.say(synths[i % len(synths)], questions[(i * len(modes) + j) % len(questions)])
                v2v[name][path].append(await voice_to_voice(url, mode, path, question))
                print(f"voice_to_voice {name} {path} {i + 1}/{args.rounds}: {v2v[name][path][-1]}", flush=True)

    barge_ins = []
    for i in range(args.barge_ins):
        synth = synths[i % len(synths)]
        barge_ins.append(await barge_in(url, speaker.say(synth, LONG_ANSWER_QUESTION),
                                        speaker.say(synth, INTERRUPTION), args.barge_in_delay))  # fmt: skip
        print(f"barge_in {i + 1}/{args.barge_ins}: {barge_ins[-1]}", flush=True)

    utterances = []
    for i in range(args.pause_utterances):  # pairs, pauses and synthesizers in rotation, balanced in every 8
        (head, tail), pause = PAUSE_PAIRS[i % len(PAUSE_PAIRS)], PAUSES_MS[i % len(PAUSES_MS)]
        utterances.append(speaker.with_pause(synths[(i + i // 4) % len(synths)], head, tail, pause))
    for i in range(args.complete_utterances):
        head, tail = PAUSE_PAIRS[i % len(PAUSE_PAIRS)]
        utterances.append(speaker.say(synths[(i + i // len(PAUSE_PAIRS)) % len(synths)], f"{head} {tail}"))
    heard: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    for utterance in utterances:
        for name, mode in modes.items():
            heard[name].append(await turn_taking(url, mode, utterance))
            print(f"turn_taking {name}: {heard[name][-1]}", flush=True)

    return report(modes, synths, v2v, barge_ins, heard, args)


def report(
    modes: dict[str, Any], synths: list[str], v2v: dict[str, Any], barge_ins: list[dict[str, Any]],
    heard: dict[str, list[dict[str, Any]]], args: argparse.Namespace,
) -> dict[str, Any]:  # fmt: skip
    moments = ["speech_stopped_ms", "transcript_ms", "first_text_ms", "final_ms", "first_answer_audio_ms"]
    council_moments = [*moments, "chair_first_delta_ms", "first_audio_any_kind_ms", "answer_audio_after_chair_delta_ms"]
    latency: dict[str, Any] = {}
    targets = []
    for name in modes:
        latency[name] = {}
        for path, keys in (("fast", moments), ("council", council_moments)):
            rounds = v2v[name][path]
            latency[name][path] = {key.removesuffix("_ms"): figures([r[key] for r in rounds]) for key in keys}
            latency[name][path]["rounds"] = len(rounds)
            latency[name][path]["rounds_without_answer_audio"] = sum(r["first_answer_audio_ms"] is None for r in rounds)
            latency[name][path]["rounds_with_more_than_one_turn"] = sum(r["turns"] > 1 for r in rounds)
        fast, council = latency[name]["fast"], latency[name]["council"]

        def at(block: dict[str, Any], key: str, stat: str) -> float | None:
            return block[key][stat] if isinstance(block[key], dict) else None

        targets += [
            target(f"{name}: fast voice-to-voice p50", at(fast, "first_answer_audio", "median"), "≤ 800 ms", 800),
            target(f"{name}: fast voice-to-voice p95", at(fast, "first_answer_audio", "p95"), "≤ 1,200 ms", 1200),
            target(f"{name}: council first audio of any kind p50", at(council, "first_audio_any_kind", "median"),
                   "≤ 1,000 ms", 1000),
            target(f"{name}: council first answer audio p50", at(council, "first_answer_audio", "median"),
                   "≤ 2,500 ms", 2500),
            target(f"{name}: council answer audio after chair's first delta p50",
                   at(council, "answer_audio_after_chair_delta", "median"), "≤ 400 ms", 400),
        ]  # fmt: skip

    arriving = [b for b in barge_ins if "error" not in b and b["audio_still_arriving_at_onset"]]
    valid = [b for b in barge_ins if "error" not in b and not b["answer_over_before_onset"]]
    interruption = {
        "definition": BARGE_IN_DEFINITION,
        "delay_into_answer_audio_s": args.barge_in_delay,
        "rounds": len(barge_ins),
        "last_answer_frame_ms": figures([b["last_answer_frame_ms"] for b in arriving]),
        "unplayed_audio_at_last_frame_s": figures([b["unplayed_at_last_frame_s"] for b in arriving], "s"),
        "stop_signal_ms": figures([b["stop_signal_ms"] for b in valid]),
        "audible_stop_ms": figures([b["audible_stop_ms"] for b in valid]),
        "rounds_audio_still_arriving_at_onset": len(arriving),
        "rounds_answer_over_before_onset": sum(b.get("answer_over_before_onset", False) for b in barge_ins),
        "rounds_stopped_by_signal": sum(b.get("stopped_by_signal", False) for b in valid),
        "rounds_resumed_after_interruption": sum(b.get("resumed", False) for b in barge_ins),
        "rounds_failed": sum("error" in b for b in barge_ins),
        "interruptions_transcribed": sum(bool(b.get("interruption_transcripts")) for b in barge_ins),
        "interruptions_split_into_more_turns": sum(len(b.get("interruption_transcripts", [])) > 1 for b in barge_ins),
    }
    frame_block, audible_block = interruption["last_answer_frame_ms"], interruption["audible_stop_ms"]
    targets += [
        target("barge-in: last answer frame received p95 (server side: mind unplayed_audio_at_last_frame_s)",
               frame_block["p95"] if isinstance(frame_block, dict) else None, "≤ 250 ms", 250),
        target("barge-in: audible stop p95", audible_block["p95"] if isinstance(audible_block, dict) else None,
               "≤ 250 ms", 250),
    ]  # fmt: skip

    turn_taking: dict[str, Any] = {}
    for name, results in heard.items():
        paused = [r for r in results if r["pause_ms"]]
        complete = [r for r in results if not r["pause_ms"]]
        cut = [r for r in paused if r["turns"] > 1]
        rate = round(100 * len(cut) / len(paused), 1) if paused else None
        added = median([r["end_to_speech_stopped_ms"] for r in complete])
        turn_taking[name] = {
            "pause_utterances": len(paused),
            "false_cutoffs": len(cut),
            "false_cutoff_rate_pct": rate,
            "false_cutoffs_by_pause_ms": {str(p): sum(r["pause_ms"] == p for r in cut) for p in PAUSES_MS},
            "pause_utterances_by_pause_ms": {str(p): sum(r["pause_ms"] == p for r in paused) for p in PAUSES_MS},
            "false_cutoffs_by_synthesizer": {s: sum(r["synthesizer"] == s for r in cut) for s in synths},
            "missed_utterances": sum(r["turns"] == 0 for r in results),
            "complete_utterances": len(complete),
            "complete_utterances_split": sum(r["turns"] > 1 for r in complete),
            "complete_turn_end_reasons": {
                str(reason): sum(r["reasons"][-1:] == [reason] for r in complete)
                for reason in {r["reasons"][-1] for r in complete if r["reasons"]}
            },
            "complete_end_of_speech_to_speech_stopped_ms": figures([r["end_to_speech_stopped_ms"] for r in complete]),
            "pause_end_of_speech_to_speech_stopped_ms": figures([r["end_to_speech_stopped_ms"] for r in paused]),
        }
        targets += [
            target(f"{name}: false cut-offs on the pause set", rate, "≤ 10 %", 10),
            target(f"{name}: added latency on complete utterances p50", added, "≤ 300 ms", 300),
        ]
    if "semantic" in heard and "silence" in heard:
        pairs = [(a["end_to_speech_stopped_ms"], b["end_to_speech_stopped_ms"])
                 for a, b in zip(heard["semantic"], heard["silence"], strict=True) if not a["pause_ms"]]  # fmt: skip
        turn_taking["semantic_minus_silence_complete_ms"] = figures(
            [a - b for a, b in pairs if a is not None and b is not None]
        )

    return {
        "turn_detection_modes": list(modes),
        "baseline_only": list(modes) == [BASELINE],
        "synthesizers": synths,
        "espeak_ng": espeak_version(),
        "rounds_per_path_and_mode": args.rounds,
        "voice_to_voice_ms_after_end_of_speech": latency,
        "barge_in": interruption,
        "turn_taking": turn_taking,
        "targets": targets,
        "handshakes_refused_then_retried": len(REFUSALS),
        "refusals": REFUSALS[:5],
        "samples": {"voice_to_voice": v2v, "barge_in": barge_ins, "turn_taking": heard},
    }


def main() -> None:
    quick = bool(os.environ.get("QUICK"))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1 if quick else 5, help="voice-to-voice turns per path and mode")
    parser.add_argument("--barge-ins", type=int, default=1 if quick else 5)
    parser.add_argument("--barge-in-delay", type=float, default=0.5, help="s of answer audio before interrupting")
    parser.add_argument("--pause-utterances", type=int, default=4 if quick else 16, help="each run once per mode")
    parser.add_argument("--complete-utterances", type=int, default=2 if quick else 8)
    parser.add_argument(
        "--source", type=Path, help="run the services from this tree's main-service/src and legacy-voice-service/src "
        "with this repo's venvs, e.g. `git worktree add /tmp/old <commit>` for a baseline (default: this repo)",
    )  # fmt: skip
    parser.add_argument(
        "--main-env", action="append", default=[], metavar="COUNCIL_NAME=VALUE",
        help="a main-service setting for this run (repeatable), e.g. COUNCIL_DELIBERATION__SPOKEN_MEMBER_MAX_TOKENS=256 "
        "to compare a setting's effect run against run",
    )  # fmt: skip
    args = parser.parse_args()
    voice_env: dict[str, str] = {}
    main_env = dict(setting.split("=", 1) for setting in args.main_env)
    if args.source:  # ahead of the venvs' editable installs of this repo's sources
        voice_env["PYTHONPATH"] = str(args.source.resolve() / "legacy-voice-service" / "src")
        main_env["PYTHONPATH"] = str(args.source.resolve() / "main-service" / "src")

    started, load_at_start = time.perf_counter(), round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory() as scratch:
        # `make run` defaults; warning-level logs keep log writing out of the measurement.
        voice = voice_process(Path(scratch) / "voice.log", VOICE_LOG__LEVEL="WARNING", **voice_env).start()
        main_service = main_process(
            Path(scratch) / "main.log", voice.port, COUNCIL_LOG__LEVEL="WARNING", **main_env
        ).start()
        try:
            result = asyncio.run(run(args, main_service.url, voice.url))
        finally:
            main_service.stop()
            voice.stop()
    result["wall_time_s"] = round(time.perf_counter() - started, 1)
    result["load_average_1m_at_start"] = load_at_start
    result["source"] = str(args.source.resolve()) if args.source else "this repository"
    result["main_settings"] = {k: v for k, v in main_env.items() if k.startswith("COUNCIL_")}
    write_result("voice_loop", result)
    print("\ntargets (not asserted):")
    for row in result["targets"]:
        mark = "met" if row["met"] else "NOT met"
        print(f"  {row['figure']}: {row['measured']} (target {row['target']}) {mark}")


if __name__ == "__main__":
    main()
