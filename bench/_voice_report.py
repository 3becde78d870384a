"""The figures of bench/voice_loop.py from its samples: latency per mode, path and voice, barge-in, turn taking, and
issue 25's targets beside them (printed, never asserted); with a baseline stack, both stacks' targets side by side.
"""

from collections import Counter
from collections.abc import Iterable
from typing import Any

from _stats import summary

MOMENTS = ["speech_stopped_ms", "transcript_ms", "first_text_ms", "final_ms", "first_answer_audio_ms"]
COUNCIL_MOMENTS = [*MOMENTS, "chair_first_delta_ms", "first_audio_any_kind_ms", "answer_audio_after_chair_delta_ms"]
BARGE_IN_DEFINITION = (
    "onset = the first frame of the interrupting utterance sent. last_answer_frame: the last binary frame received "
    "that follows the old turn's audio.start (frames after its barge_in/audio.paused/cancelled count; the old turn's "
    "audio ends at its audio.end or the next audio.start), only in rounds where that audio was still arriving at "
    "onset. stop_signal: its first audio.paused, barge_in or cancelled. audible_stop: a client playing the audio in "
    "real time from its first frame and flushing on stop_signal goes quiet then (or when the audio ran out). "
    "unplayed_audio_at_last_frame: what such a client had received but not yet played when the last frame came."
)


def figures(values: Iterable[float | None], unit: str = "ms") -> dict[str, Any] | str:
    present = [v for v in values if v is not None]
    return summary(present, unit, digits=1) if present else "no samples"


def stat(block: dict[str, Any] | str, name: str) -> float | None:
    """`median` or `p95` of a `figures` block; None when it had no samples."""
    return block[name] if isinstance(block, dict) else None


def counts(values: Iterable[str | None]) -> dict[str, int]:
    """How often each value occurs, most frequent first; None (no value) is left out."""
    return dict(Counter(v for v in values if v is not None).most_common())


def end_reason(sample: dict[str, Any]) -> str | None:
    """The `reason` of the `speech.stopped` that ended a turn-taking utterance's last turn."""
    reasons: list[str | None] = sample["reasons"]
    return reasons[-1] if reasons else None


def target(figure: str, measured: float | None, goal: str, bound: float) -> dict[str, Any]:
    return {"figure": figure, "measured": measured, "target": goal, "met": measured is not None and measured <= bound}


def path_latency(rounds: list[dict[str, Any]], moments: list[str], synths: list[str]) -> dict[str, Any]:
    """One path's moments after the end of speech, first answer audio per voice, and what ended its turns."""
    block: dict[str, Any] = {key.removesuffix("_ms"): figures(r[key] for r in rounds) for key in moments}
    block["first_answer_audio_by_synthesizer"] = {
        s: figures(r["first_answer_audio_ms"] for r in rounds if r["synthesizer"] == s) for s in synths
    }
    block["turn_end_reasons"] = counts(r.get("speech_stopped_reason") for r in rounds)
    block["answers_started_before_the_turn_ended"] = sum(
        bool(r.get("answer_started_before_the_turn_ended")) for r in rounds
    )
    block["rounds"] = len(rounds)
    block["rounds_without_answer_audio"] = sum(r["first_answer_audio_ms"] is None for r in rounds)
    block["rounds_with_error"] = sum(r["error"] is not None for r in rounds)  # an `error` event, e.g. a failed turn
    block["rounds_with_more_than_one_turn"] = sum(r["turns"] > 1 for r in rounds)
    return block


def latency_targets(
    mode: str, fast: dict[str, Any], council: dict[str, Any], synths: list[str]
) -> list[dict[str, Any]]:
    voices = [("", fast["first_answer_audio"])]
    voices += [(f", {s}", fast["first_answer_audio_by_synthesizer"][s]) for s in synths]
    rows = []
    for voice, block in voices:
        rows += [
            target(f"{mode}: fast voice-to-voice p50{voice}", stat(block, "median"), "≤ 600 ms", 600),
            target(f"{mode}: fast voice-to-voice p95{voice}", stat(block, "p95"), "≤ 900 ms", 900),
        ]
    return [
        *rows,
        target(f"{mode}: council acknowledgement (first audio of any kind) p50",
               stat(council["first_audio_any_kind"], "median"), "≤ 600 ms", 600),
        target(f"{mode}: council first answer audio p50", stat(council["first_answer_audio"], "median"),
               "≤ 2,000 ms", 2000),
    ]  # fmt: skip


def barge_in_block(barge_ins: list[dict[str, Any]], delay_s: float) -> dict[str, Any]:
    arriving = [b for b in barge_ins if "error" not in b and b["audio_still_arriving_at_onset"]]
    valid = [b for b in barge_ins if "error" not in b and not b["answer_over_before_onset"]]
    return {
        "definition": BARGE_IN_DEFINITION,
        "delay_into_answer_audio_s": delay_s,
        "rounds": len(barge_ins),
        "last_answer_frame_ms": figures(b["last_answer_frame_ms"] for b in arriving),
        "unplayed_audio_at_last_frame_s": figures((b["unplayed_at_last_frame_s"] for b in arriving), "s"),
        "stop_signal_ms": figures(b["stop_signal_ms"] for b in valid),
        "audible_stop_ms": figures(b["audible_stop_ms"] for b in valid),
        "rounds_audio_still_arriving_at_onset": len(arriving),
        "rounds_answer_over_before_onset": sum(b.get("answer_over_before_onset", False) for b in barge_ins),
        "rounds_stopped_by_signal": sum(b.get("stopped_by_signal", False) for b in valid),
        "rounds_resumed_after_interruption": sum(b.get("resumed", False) for b in barge_ins),
        "rounds_failed": sum("error" in b for b in barge_ins),
        "interruptions_transcribed": sum(bool(b.get("interruption_transcripts")) for b in barge_ins),
        "interruptions_split_into_more_turns": sum(len(b.get("interruption_transcripts", [])) > 1 for b in barge_ins),
    }


def barge_in_targets(block: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        target("barge-in: last answer frame received p95 (server side: mind unplayed_audio_at_last_frame_s)",
               stat(block["last_answer_frame_ms"], "p95"), "≤ 250 ms", 250),
        target("barge-in: audible stop p95", stat(block["audible_stop_ms"], "p95"), "≤ 250 ms", 250),
    ]  # fmt: skip


def turn_taking_block(results: list[dict[str, Any]], synths: list[str]) -> dict[str, Any]:
    """False cut-offs on the pause set; on complete utterances, the added latency and what ended the turn."""
    paused = [r for r in results if r["pause_ms"]]
    complete = [r for r in results if not r["pause_ms"]]
    cut = [r for r in paused if r["turns"] > 1]
    pauses = sorted({r["pause_ms"] for r in paused})
    return {
        "pause_utterances": len(paused),
        "false_cutoffs": len(cut),
        "false_cutoff_rate_pct": round(100 * len(cut) / len(paused), 1) if paused else None,
        "false_cutoffs_by_pause_ms": {str(p): sum(r["pause_ms"] == p for r in cut) for p in pauses},
        "pause_utterances_by_pause_ms": {str(p): sum(r["pause_ms"] == p for r in paused) for p in pauses},
        "false_cutoffs_by_synthesizer": {s: sum(r["synthesizer"] == s for r in cut) for s in synths},
        "pause_utterances_by_synthesizer": {s: sum(r["synthesizer"] == s for r in paused) for s in synths},
        "missed_utterances": sum(r["turns"] == 0 for r in results),
        "complete_utterances": len(complete),
        "complete_utterances_split": sum(r["turns"] > 1 for r in complete),
        "complete_turn_end_reasons": counts(end_reason(r) for r in complete),
        "complete_turn_end_reasons_by_synthesizer": {
            s: counts(end_reason(r) for r in complete if r["synthesizer"] == s) for s in synths
        },
        "complete_end_of_speech_to_speech_stopped_ms": figures(r["end_to_speech_stopped_ms"] for r in complete),
        "pause_end_of_speech_to_speech_stopped_ms": figures(r["end_to_speech_stopped_ms"] for r in paused),
    }


def turn_taking_targets(mode: str, block: dict[str, Any]) -> list[dict[str, Any]]:
    added = stat(block["complete_end_of_speech_to_speech_stopped_ms"], "median")
    return [
        target(f"{mode}: false cut-offs on the pause set", block["false_cutoff_rate_pct"], "≤ 5 %", 5),
        target(f"{mode}: added latency on complete utterances p50", added, "≤ 300 ms", 300),
    ]


def semantic_minus_silence(heard: dict[str, list[dict[str, Any]]]) -> dict[str, Any] | str:
    """Per complete utterance, semantic mode's end of speech → `speech.stopped` minus silence mode's."""
    pairs = [(a["end_to_speech_stopped_ms"], b["end_to_speech_stopped_ms"])
             for a, b in zip(heard["semantic"], heard["silence"], strict=True) if not a["pause_ms"]]  # fmt: skip
    return figures(a - b for a, b in pairs if a is not None and b is not None)


def stack_report(
    synths: list[str], v2v: dict[str, dict[str, list[dict[str, Any]]]], barge_ins: list[dict[str, Any]],
    heard: dict[str, list[dict[str, Any]]], barge_in_delay_s: float,
) -> dict[str, Any]:  # fmt: skip
    """One stack's figures and targets, per turn-detection mode (the keys of `v2v` and `heard`)."""
    latency = {
        mode: {"fast": path_latency(paths["fast"], MOMENTS, synths),
               "council": path_latency(paths["council"], COUNCIL_MOMENTS, synths)}
        for mode, paths in v2v.items()
    }  # fmt: skip
    interruption = barge_in_block(barge_ins, barge_in_delay_s)
    turn_taking: dict[str, Any] = {mode: turn_taking_block(results, synths) for mode, results in heard.items()}
    targets = [
        row for mode, block in latency.items() for row in latency_targets(mode, block["fast"], block["council"], synths)
    ]
    targets += barge_in_targets(interruption)
    targets += [row for mode, block in turn_taking.items() for row in turn_taking_targets(mode, block)]
    if "semantic" in heard and "silence" in heard:
        turn_taking["semantic_minus_silence_complete_ms"] = semantic_minus_silence(heard)
    return {
        "voice_to_voice_ms_after_end_of_speech": latency,
        "barge_in": interruption,
        "turn_taking": turn_taking,
        "targets": targets,
    }


def side_by_side(current: list[dict[str, Any]], baseline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every target with the current stack's figure beside the baseline's (None where a stack has no such row)."""
    mine, theirs = ({row["figure"]: row for row in rows} for rows in (current, baseline))
    rows = []
    for figure in [*mine, *(name for name in theirs if name not in mine)]:
        now, before = mine.get(figure, {}), theirs.get(figure, {})
        a, b = now.get("measured"), before.get("measured")
        rows.append({
            "figure": figure, "target": (now or before)["target"],
            "current": a, "current_met": now.get("met", False),
            "baseline": b, "baseline_met": before.get("met", False),
            "current_minus_baseline": round(a - b, 1) if a is not None and b is not None else None,
        })  # fmt: skip
    return rows


def print_targets(result: dict[str, Any]) -> None:
    def shown(measured: float | None, met: bool) -> str:
        return "no samples" if measured is None else f"{measured} {'met' if met else 'NOT met'}"

    print("\ntargets (not asserted):")
    if "targets_side_by_side" not in result:
        for row in result["targets"]:
            print(f"  {row['figure']} (target {row['target']}): {shown(row['measured'], row['met'])}")
        return
    for row in result["targets_side_by_side"]:
        print(f"  {row['figure']} (target {row['target']}): current {shown(row['current'], row['current_met'])}, "
              f"baseline {shown(row['baseline'], row['baseline_met'])}")  # fmt: skip
