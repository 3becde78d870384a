"""Main->voice hop overhead for a readiness call, measured side by side on loopback with keep-alive.

Each round alternates: voice /health/ready directly (A) and main /health/ready (B), which makes one live
main->voice probe per call. Reports A, B, B-A per round, and main's own client-side timing of the hop
(the `observedValue` of its voice check). Usage: make bench, or main-service/.venv/bin/python bench/hop_readiness.py
[--calls N]; QUICK=1 runs 100 calls.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the process harness the tests use
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stats import paired_ratio, summary, write_result

from servicekit import main_process, voice_process


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
        "calls": args.calls,
        "voice_ready_direct": summary(direct, "ms"),
        "main_ready_via_voice": summary(through_main, "ms"),
        "added_by_main_per_call": summary([b - a for a, b in zip(direct, through_main, strict=True)], "ms"),
        "hop_seen_by_main_client": summary(hop_in_main, "ms"),
        "main_over_direct": paired_ratio(through_main, direct),
    }
    write_result("hop_readiness", result)


if __name__ == "__main__":
    main()
