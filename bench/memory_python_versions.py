"""Memory of the main service's LLM-free workloads on Python 3.13 vs 3.11, side by side in one run.

The plan claimed "20 % memory optimization for large state machines" on 3.13. Each workload of `bench/_workloads.py`,
plus `large_state_machine` (a 100-turn conversation on one thread, then 200 threads' turns at once through the
LangGraph graph), runs in a fresh process per interpreter and per mode (`bench/_memory_workload.py`): RSS (after
imports, app up and warm, after the workload; peak = `ru_maxrss`) and, in another process, tracemalloc's peak of
the workload's own Python allocations. Rounds alternate the interpreters (ABBA). Ratio = 3.13 ÷ 3.11 (below 1: 3.13
uses less; the claim would be 0.80). Memory, not time: the figures hold on a busy machine. Usage: make bench, or
main-service/.venv/bin/python bench/memory_python_versions.py [--rounds R] [--scale F] [--only W ...] [--source DIR];
QUICK=1: 1 round at 0.2 of two workloads.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _venv311
from _stats import paired_ratio, summary, write_result
from python_versions import PY313, interpreter

BENCH = Path(__file__).resolve().parent
WORKLOADS = ("asgi_requests", "ws_fanout", "json_pydantic", "ledger_ops", "pheromind_ops", "orchestrator_graph",
             "large_state_machine")  # fmt: skip  # names of `_memory_workload.WORKLOADS`, not imported here
# figure -> (mode that measures it, how it is read from the worker's JSON), all in KiB
FIGURES = {
    "rss_imported": ("rss", lambda r: r["imported_kib"]),
    "rss_ready": ("rss", lambda r: r["ready_kib"]),
    "rss_after": ("rss", lambda r: r["after_kib"]),
    "rss_peak": ("rss", lambda r: max(r["max_rss_kib"], r["after_kib"])),  # ru_maxrss lags VmRSS by a few pages
    "rss_peak_over_ready": ("rss", lambda r: max(r["max_rss_kib"], r["after_kib"]) - r["ready_kib"]),
    "traced_peak": ("tracemalloc", lambda r: r["traced_peak_kib"]),
    "traced_retained": ("tracemalloc", lambda r: r["traced_retained_kib"]),
}


def run_one(
    python: Path, workload: str, mode: str, scale: float, source: str | None, attempts: int = 3
) -> dict[str, Any]:
    """One fresh process; tried again after a pause if it fails (the source tree may be mid-edit on a shared
    machine: a run of 28 minutes should not be lost to a file saved half-way)."""
    for attempt in range(1, attempts + 1):
        out = subprocess.run(
            [str(python), str(BENCH / "_memory_workload.py"), workload, "--mode", mode, "--scale", str(scale),
             *(["--source", source] if source else [])],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if out.returncode == 0:
            result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
            return result
        print(f"attempt {attempt}: {python} {workload} {mode} failed:\n{out.stderr[-1500:]}", file=sys.stderr)
        time.sleep(30)
    raise RuntimeError(f"{python} _memory_workload.py {workload} failed {attempts} times")


def main() -> None:
    quick = bool(os.environ.get("QUICK"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1 if quick else 2)
    parser.add_argument("--scale", type=float, default=0.2 if quick else 1.0)
    parser.add_argument(
        "--only", nargs="*", default=["json_pydantic", "large_state_machine"] if quick else list(WORKLOADS)
    )  # QUICK: one workload of `_workloads.py` and this file's own, so `make test`'s smoke run stays short
    parser.add_argument(
        "--source", help="a snapshot of main-service/src to measure (default: the working tree), e.g. from git archive"
    )
    args = parser.parse_args()
    py311 = _venv311.ensure()
    samples: dict[str, dict[str, dict[str, list[float]]]] = {"3.13": {}, "3.11": {}}
    for round_ in range(args.rounds):
        order = [("3.13", PY313), ("3.11", py311)]
        if round_ % 2:
            order.reverse()
        for workload in args.only:
            for label, python in order:
                runs = {
                    mode: run_one(python, workload, mode, args.scale, args.source) for mode in ("rss", "tracemalloc")
                }
                figures = samples[label].setdefault(workload, {})
                for figure, (mode, read) in FIGURES.items():
                    figures.setdefault(figure, []).append(read(runs[mode]) / 1024)
                print(f"round {round_ + 1} {label} {workload}: {json.dumps(runs)}", file=sys.stderr, flush=True)
    workloads = {
        workload: {
            figure: {
                "py313_mib": summary(samples["3.13"][workload][figure], "MiB", 2),
                "py311_mib": summary(samples["3.11"][workload][figure], "MiB", 2),
                "py313_over_py311": paired_ratio(samples["3.13"][workload][figure], samples["3.11"][workload][figure]),
            }
            for figure in FIGURES
            if min(samples["3.11"][workload][figure]) > 0  # a ratio of nothing says nothing
        }
        for workload in args.only
    }
    write_result(
        "memory_python_versions",
        {
            "method": "per round, workload and interpreter (ABBA): one process for RSS, one for tracemalloc; "
            "llama_cpp stubbed on both; ratio 3.13 / 3.11, below 1 = 3.13 uses less",
            "rounds": args.rounds,
            "scale": args.scale,
            "source": args.source or "working tree",
            "interpreters": {"3.13": interpreter(PY313), "3.11": interpreter(py311)},
            "workloads": workloads,
        },
    )


if __name__ == "__main__":
    main()
