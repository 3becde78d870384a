"""Shared by the benchmarks: run sizes, summaries of samples, ratios with their spread, the machine, and writing a
result.

Every benchmark keeps its own measurement loop; it reports through `summary`/`paired_ratio` and `write_result` so
the dated report (`bench/_report.py`) can show the same columns for every figure.
"""

import argparse
import json
import math
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def results_dir() -> Path:
    """bench/results, or bench/results/quick (not checked in) for a QUICK=1 smoke run, so it never overwrites."""
    return RESULTS / "quick" if os.environ.get("QUICK") else RESULTS


def size_options(parser: argparse.ArgumentParser, **sizes: tuple[int, int]) -> argparse.ArgumentParser:
    """An integer `--NAME` per size (`NAME=(smoke, full)`): `smoke` by default on a QUICK=1 run, else `full`."""
    quick = bool(os.environ.get("QUICK"))
    for name, (smoke, full) in sizes.items():
        parser.add_argument(f"--{name}", type=int, default=smoke if quick else full)
    return parser


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (the `statistics.quantiles` 'inclusive' method), q in [0, 100]."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = q / 100 * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(values: Sequence[float], unit: str, digits: int = 3) -> dict[str, Any]:
    """Median, p95, p99, min, max and count of samples. With few samples p95/p99 are interpolated near the max."""
    if not values:
        raise ValueError("no samples")
    return {
        "unit": unit,
        "n": len(values),
        "median": round(statistics.median(values), digits),
        "p95": round(percentile(values, 95), digits),
        "p99": round(percentile(values, 99), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def paired_ratio(numerator: Sequence[float], denominator: Sequence[float]) -> dict[str, Any]:
    """B/A from samples taken side by side (alternating): the ratio of medians and the spread of per-pair ratios."""
    pairs = [b / a for b, a in zip(numerator, denominator, strict=True) if a]
    return {
        "ratio_of_medians": round(statistics.median(numerator) / statistics.median(denominator), 3),
        "pair_ratio_median": round(statistics.median(pairs), 3),
        "pair_ratio_p5": round(percentile(pairs, 5), 3),
        "pair_ratio_p95": round(percentile(pairs, 95), 3),
        "pairs": len(pairs),
    }


def machine() -> dict[str, Any]:
    """What the figures depend on: CPU model and cores, memory, OS, this interpreter."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    memory_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return {
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "memory_gib": memory_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "gil_disabled": bool(getattr(sys, "_is_gil_enabled", lambda: True)() is False),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def write_result(name: str, result: dict[str, Any]) -> Path:
    """bench/results[/quick]/<name>.json with a timestamp, the machine and `quick`; also printed."""
    document = {
        "benchmark": name,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": bool(os.environ.get("QUICK")),
        "machine": machine(),
        **result,
    }
    folder = results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{name}.json"
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document, indent=2))
    return out
