"""One workload's memory in a fresh interpreter: `memory_python_versions.py` runs this file once per workload, per
interpreter and per mode, so that no run inherits another's heap.

Reuses `bench/_workloads.py` (its 3.11 shims, app and workloads) and adds `large_state_machine`. `llama_cpp` is
stubbed on both interpreters here, not only on 3.11: the 3.11 venv has neither llama.cpp nor numpy, and the
comparison wants the same modules loaded on both sides. Mode `rss` reads VmRSS (/proc/self/status) after imports,
when the app is up and warm, and after the workload (gc'd); and the process's peak, `ru_maxrss`. Mode `tracemalloc`
traces the Python allocations of the workload alone: its peak and what it still holds after a gc (tracing slows
Python code several times and costs memory of its own, so it never shares a process with the RSS figures).
Prints one JSON object. Usage: <python> bench/_memory_workload.py WORKLOAD [--scale F] [--mode rss|tracemalloc] [--source DIR]
"""

import sys
import types

# `--source DIR`: import the service from DIR (a snapshot of main-service/src, e.g. `git archive` of a commit)
# instead of the working tree, which other people may be editing during a run of half an hour.
if "--source" in sys.argv:
    sys.path.insert(0, sys.argv[sys.argv.index("--source") + 1])
# Before `_workloads` imports the service: the same stand-in for llama.cpp on 3.13 as on 3.11 (no model runs here).
_stub = types.ModuleType("llama_cpp")
_stub.Llama = object  # type: ignore[attr-defined]
_chat_format = types.ModuleType("llama_cpp.llama_chat_format")
_chat_format.Jinja2ChatFormatter = object  # type: ignore[attr-defined]
_stub.llama_chat_format = _chat_format  # type: ignore[attr-defined]
sys.modules.setdefault("llama_cpp", _stub)
sys.modules.setdefault("llama_cpp.llama_chat_format", _chat_format)

import argparse  # noqa: E402
import asyncio  # noqa: E402
import functools  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _workloads  # noqa: E402
from _workloads import LOCAL, FinalEvent, bench_settings, open_orchestrator, scripted_registry  # noqa: E402

IMPORTED_KIB = 0  # VmRSS once everything is imported, set in main()


def vm_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


async def large_state_machine(app: Any, scale: float) -> None:
    """The plan's "large state machines": one long conversation (its checkpointed state grows every turn), then
    many threads' turns in flight at once through the same compiled graph (instant scripted models, SQLite)."""
    with tempfile.TemporaryDirectory() as directory:
        settings = bench_settings(Path(directory))
        async with open_orchestrator(settings, models=scripted_registry()) as orchestrator:
            thread_id = None  # the first turn starts the thread (its ID minted by the orchestrator)
            for n in range(int(100 * scale)):  # alternating paths on one thread: the history is sent every turn
                path = "/council" if n % 4 == 0 else "/fast"
                message = f"{path} long conversation turn {n}"
                admitted = await orchestrator.admit(message, caller=LOCAL, thread_id=thread_id)
                final = await orchestrator.answer(admitted)
                assert isinstance(final, FinalEvent)
                thread_id = final.thread_id

            async def one(n: int) -> None:
                path = "/council" if n % 2 else "/fast"
                # A client each: the per-client caps on turns at once are not what this measures.
                admitted = await orchestrator.admit(f"{path} concurrent turn {n}", caller=LOCAL, client=f"bench-{n}")
                final = await orchestrator.answer(admitted)
                assert isinstance(final, FinalEvent)

            await asyncio.gather(*(one(n) for n in range(int(200 * scale))))


WORKLOADS = {**_workloads.WORKLOADS, "large_state_machine": large_state_machine}


async def measure(name: str, scale: float, mode: str) -> dict[str, Any]:
    workload = WORKLOADS[name]
    _workloads.council_lifespan.open_orchestrator = functools.partial(open_orchestrator, models=scripted_registry())  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as directory:
        service = _workloads.create_app(bench_settings(Path(directory)))
        # generous timeouts: start-up takes seconds on 2 cores shared with other people's builds (default: 5 s)
        async with _workloads.LifespanManager(service, startup_timeout=120, shutdown_timeout=120) as manager:
            app = manager.app
            app._bench_state = dict(manager._state)  # type: ignore[attr-defined]  # lifespan state for raw ASGI scopes
            await workload(app, min(scale, 0.05))  # warm-up: imports, caches, first-call costs
            gc.collect()
            result: dict[str, Any] = {"imported_kib": IMPORTED_KIB, "ready_kib": vm_kib("VmRSS")}
            if mode == "tracemalloc":
                tracemalloc.start()
                await workload(app, scale)
                _, peak = tracemalloc.get_traced_memory()
                gc.collect()
                current, _ = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                result |= {"traced_peak_kib": peak // 1024, "traced_retained_kib": current // 1024}
            else:
                await workload(app, scale)
                gc.collect()
                result |= {
                    "after_kib": vm_kib("VmRSS"),
                    "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                }
    return result


def main() -> None:
    global IMPORTED_KIB
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=list(WORKLOADS))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--mode", choices=["rss", "tracemalloc"], default="rss")
    parser.add_argument("--source", help="main-service/src to import instead of the working tree's (read at import)")
    args = parser.parse_args()
    gc.collect()
    IMPORTED_KIB = vm_kib("VmRSS")
    result = asyncio.run(measure(args.workload, args.scale, args.mode))
    print(json.dumps({"python": sys.version.split()[0], "workload": args.workload, "mode": args.mode, **result}))


if __name__ == "__main__":
    main()
