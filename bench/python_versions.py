"""Python 3.13 vs 3.11 on the main service's LLM-free workloads, side by side in one run.

Each round runs `bench/_workloads.py` once under the service's 3.13 venv and once under `bench/.venv311` (built
on first use by `bench/_venv311.py`), in alternating order (ABBA), each run timing every workload `--reps` times
and keeping the median. Reports per workload each interpreter's seconds per repetition and the ratio
3.11 time / 3.13 time (above 1: 3.13 is faster) with the spread of per-round ratios. Also records whether this
3.13 is a free-threaded or JIT build. Usage: make bench, or main-service/.venv/bin/python bench/python_versions.py
[--rounds R] [--reps N] [--scale F]; QUICK=1: 2 rounds x 1 rep at 0.2 scale.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _venv311
from _stats import paired_ratio, summary, write_result

BENCH = Path(__file__).resolve().parent
PY313 = BENCH.parent / "main-service" / ".venv" / "bin" / "python"


def run_workloads(python: Path, reps: int, scale: float) -> dict[str, Any]:
    out = subprocess.run(
        [str(python), str(BENCH / "_workloads.py"), "--reps", str(reps), "--scale", str(scale)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"{python} _workloads.py failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def interpreter(python: Path) -> dict[str, Any]:
    code = (
        "import json, platform, sys, sysconfig; print(json.dumps({'version': platform.python_version(),"
        " 'gil_disabled': bool(sysconfig.get_config_var('Py_GIL_DISABLED')),"
        " 'jit_built': '_Py_JIT' in (sysconfig.get_config_var('PY_CORE_CFLAGS') or ''),"
        " 'config_args': sysconfig.get_config_var('CONFIG_ARGS')}))"
    )
    return json.loads(subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout)  # type: ignore[no-any-return]


def main() -> None:
    quick = bool(os.environ.get("QUICK"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2 if quick else 6)
    parser.add_argument("--reps", type=int, default=1 if quick else 3)
    parser.add_argument("--scale", type=float, default=0.2 if quick else 1.0)
    args = parser.parse_args()
    py311 = _venv311.ensure()
    samples: dict[str, dict[str, list[float]]] = {"3.13": {}, "3.11": {}}
    for round_ in range(args.rounds):
        order = [("3.13", PY313), ("3.11", py311)]
        if round_ % 2:
            order.reverse()
        for label, python in order:
            timings = run_workloads(python, args.reps, args.scale)["timings_s"]
            for name, values in timings.items():
                samples[label].setdefault(name, []).append(statistics.median(values) * 1000)
    workloads = {
        name: {
            "py313_ms": summary(samples["3.13"][name], "ms per repetition"),
            "py311_ms": summary(samples["3.11"][name], "ms per repetition"),
            "py311_over_py313": paired_ratio(samples["3.11"][name], samples["3.13"][name]),
        }
        for name in samples["3.13"]
    }
    geomean = statistics.geometric_mean([w["py311_over_py313"]["ratio_of_medians"] for w in workloads.values()])
    write_result(
        "python_versions",
        {
            "method": "each round: both interpreters, ABBA order; per run the median of --reps repetitions",
            "rounds": args.rounds,
            "reps_per_run": args.reps,
            "scale": args.scale,
            "interpreters": {"3.13": interpreter(PY313), "3.11": interpreter(py311)},
            "this_build_has": {
                "free_threading": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
                "jit": "_Py_JIT" in (sysconfig.get_config_var("PY_CORE_CFLAGS") or ""),
            },
            "workloads": workloads,
            "geometric_mean_py311_over_py313": round(geomean, 3),
        },
    )


if __name__ == "__main__":
    main()
