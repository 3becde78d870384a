"""Main->voice hop overhead for a readiness call, measured side by side on loopback with keep-alive.

Each round alternates: voice /health/ready directly (A) and main /health/ready (B), which makes one live
main->voice probe per call. Reports A, B, B-A per round, and main's own client-side timing of the hop
(the `observedValue` of its voice check). Usage: make bench, or main-service/.venv/bin/python bench/hop_readiness.py
[--calls N]; QUICK=1 runs 100 calls.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the process harness the tests use
from servicekit import ROOT, main_process, voice_process


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values), 3),
        "p99_ms": round(percentile(values, 99), 3),
        "min_ms": round(min(values), 3),
        "max_ms": round(max(values), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    default_calls = 100 if os.environ.get("QUICK") else 1000
    parser.add_argument("--calls", type=int, default=default_calls)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        # Warning level keeps log writing out of the measurement; a long watch interval keeps the watcher quiet.
        voice = voice_process(Path(scratch) / "voice.log", VOICE_LOG__LEVEL="WARNING").start()
        main_service = main_process(
            Path(scratch) / "main.log", voice.port, COUNCIL_LOG__LEVEL="WARNING", COUNCIL_VOICE__WATCH_INTERVAL_S="3600"
        ).start()
        try:
            direct, through_main, hop_in_main = [], [], []
            with httpx.Client() as client:
                for _ in range(20):  # warm both connection pools
                    client.get(f"{voice.url}/health/ready")
                    client.get(f"{main_service.url}/health/ready")
                for _ in range(args.calls):
                    started = time.perf_counter()
                    client.get(f"{voice.url}/health/ready").raise_for_status()
                    direct.append((time.perf_counter() - started) * 1000)
                    started = time.perf_counter()
                    body = client.get(f"{main_service.url}/health/ready").json()
                    through_main.append((time.perf_counter() - started) * 1000)
                    hop_in_main.append(float(body["checks"]["voice:ready"][0]["observedValue"]))
        finally:
            main_service.stop()
            voice.stop()

    result = {
        "benchmark": "hop_readiness",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "calls": args.calls,
        "voice_ready_direct": summary(direct),
        "main_ready_via_voice": summary(through_main),
        "added_by_main_per_call": summary([b - a for a, b in zip(direct, through_main, strict=True)]),
        "hop_seen_by_main_client": summary(hop_in_main),
        "ratio_main_over_direct_p50": round(statistics.median(through_main) / statistics.median(direct), 2),
    }
    out = ROOT / "bench" / "results" / "hop_readiness.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
