"""The bundled chat model's reading of a pause's words (`council.llm.end_of_turn`) beside Smart Turn, on the bench's
utterances, and the voice service's thresholds for it (`VOICE_TURN__MODEL_HOLD_BELOW`, `VOICE_TURN__MODEL_END_AT`).

Input: the rows of `bench/voice/turn_signals.py`'s latest result (per voice and utterance: Smart Turn's probability
at the first pause and Whisper's transcript; heads of sentences, where the turn must stay open, and complete
utterances, where it should end), read from this run's results folder, else the checked-in one. Each transcript is
read by the model as the main service reads it; the voice service's rule (`voice.realtime.end_of_turn.decide`, the
shipped code) then decides each pause with the rules alone and with the model's reading, for a grid of thresholds.
Reported: separation (AUC) of each signal, heads cut and complete utterances ended at the pause per choice, and the
time of one reading. The defaults are the grid's best by: fewest heads cut, then most complete utterances ended.
Usage: main-service/.venv/bin/python bench/turn_words.py
"""

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "legacy-voice-service" / "src"))
from _stats import RESULTS, results_dir, summary, write_result
from council.llm.bundled import bundled_model
from council.llm.end_of_turn import WordsEndOfTurn
from council.settings import Settings as MainSettings
from voice.realtime.end_of_turn import Heard, TurnRule, decide
from voice.settings import Settings as VoiceSettings

HOLD_BELOW = [0.0, 1e-10, 3e-10, 1e-9, 3e-9, 1e-8, 3e-8, 1e-7, 1e-6]
END_AT = [2.0, 0.1, 0.03, 0.01, 0.003, 0.001]


def auc(positives: list[float], negatives: list[float]) -> float:
    """How often a complete utterance scores above a head (ties half): 0.5 is chance."""
    pairs = [(p > n) + 0.5 * (p == n) for p in positives for n in negatives]
    return round(sum(pairs) / len(pairs), 3)


def outcome(rule: TurnRule, rows: list[dict[str, Any]], *, read: bool) -> dict[str, Any]:
    ended = Counter()
    for row in rows:
        heard = Heard.of(row["transcript"], "en", row["model"] if read else None)
        if decide(rule, row["probability"], heard) is not None:
            ended[row["kind"]] += 1
    return {"heads_cut": ended["head"], "complete_ended": ended["complete"]}


def main() -> None:
    source = results_dir() / "turn_signals.json"
    if not source.is_file():
        source = RESULTS / "turn_signals.json"
    rows: list[dict[str, Any]] = json.loads(source.read_text())["rows"]
    reader = WordsEndOfTurn(bundled_model(MainSettings(_env_file=None).llm))
    times = []
    for row in rows:
        started = time.perf_counter()
        row["model"] = reader.probability(row["transcript"])
        times.append((time.perf_counter() - started) * 1000)
    reader.close()

    shipped = TurnRule.of(VoiceSettings(_env_file=None).turn)
    heads, complete = (sum(row["kind"] == kind for row in rows) for kind in ("head", "complete"))
    grid = []
    for hold_below in HOLD_BELOW:
        for end_at in END_AT:
            rule = TurnRule(shipped.threshold, shipped.text_audio_floor, shipped.hold_unfinished, hold_below, end_at)
            grid.append({"model_hold_below": hold_below, "model_end_at": end_at, **outcome(rule, rows, read=True)})
    best = min(grid, key=lambda choice: (choice["heads_cut"], -choice["complete_ended"]))

    def by_kind(kind: str, key: str) -> list[float]:
        return [row[key] for row in rows if row["kind"] == kind]

    result = {
        "source": str(source.relative_to(RESULTS.parent.parent)),
        "utterances": {"heads": heads, "complete": complete},
        "auc": {
            "smart_turn": auc(by_kind("complete", "probability"), by_kind("head", "probability")),
            "model": auc(by_kind("complete", "model"), by_kind("head", "model")),
        },
        "reading_ms": summary(times, "ms"),
        "rules_alone": outcome(shipped, rows, read=False),
        "shipped": {
            "model_hold_below": shipped.model_hold_below,
            "model_end_at": shipped.model_end_at,
            **outcome(shipped, rows, read=True),
        },
        "best_of_grid": best,
        "grid": grid,
        "rows": [{key: row[key] for key in ("voice", "kind", "probability", "transcript", "model")} for row in rows],
    }
    write_result("turn_words", result)


if __name__ == "__main__":
    main()
