"""`QUICK=1 scripts/bench` runs every benchmark end to end and writes its report, so the benchmarks don't rot.

A smoke run (a few rounds each, about 90 s on 2 cores, plus 2-5 min for the voice loop, which streams speech in real
time, and 4-5 min for the memory benchmarks, which start a process per workload and the services per setting; the first run also builds bench/.venv311 from PyPI and may install espeak-ng) whose figures are not checked:
only that each benchmark finished and reported through the shared summary format.
"""

import json
import os
import subprocess
from datetime import UTC, datetime

import pytest

from servicekit import ROOT

BENCHMARKS = {
    "hop_readiness", "api_overhead", "orchestrator", "python_versions", "kip_ledger_transfers",
    "pheromind_deposit_read", "voice", "voice_http", "voice_loop", "kip_ledger_backends", "memory_python_versions",
    "memory_stack",
}  # fmt: skip


@pytest.mark.timeout(2400)  # over the run's own 1800 s, so that its timeout, with the output, is what reports a hang
def test_quick_bench_runs_every_benchmark_and_writes_the_report() -> None:
    started = datetime.now(UTC).replace(microsecond=0)
    env = {**os.environ, "QUICK": "1"}
    run = subprocess.run(
        [str(ROOT / "scripts" / "bench")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800
    )  # the voice loop's council turns take minutes when the 2 cores are busy
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]

    quick = ROOT / "bench" / "results" / "quick"
    report = json.loads((quick / f"report-{datetime.now(UTC):%Y-%m-%d}.json").read_text())
    assert set(report["benchmarks"]) >= BENCHMARKS
    for name in BENCHMARKS:
        result = report["benchmarks"][name]
        assert result["quick"] is True
        assert datetime.fromisoformat(result["when"]) >= started, f"{name} did not write a fresh result"
    assert report["environments"]["bench/.venv311"]["python"].startswith("3.11")
    ratios = report["benchmarks"]["python_versions"]["workloads"]
    assert all(w["py311_over_py313"]["ratio_of_medians"] > 0 for w in ratios.values())
