"""The main service's LLM-free workloads, run in one interpreter and timed; `python_versions.py` runs this file
under Python 3.13 (the service's venv) and 3.11 (`bench/.venv311`) alternately and compares.

Prints one JSON object: workload -> seconds per repetition for each repetition. On 3.11 two shims make the 3.13
code importable without touching it: PEP 695 generic headers (`def f[T](...)` and `class C[T]:`, one type
parameter each) are rewritten at import to a classic TypeVar (and `Generic[T]` for a class), `type X = ...` and
`type X[T] = ...` aliases to plain assignments, and `llama_cpp` (unused here: every model is the instant scripted one) is an empty stand-in. Usage: <python> bench/_workloads.py [--reps N] [--scale F]
"""

import argparse
import asyncio
import functools
import gc
import importlib.abc
import importlib.machinery
import importlib.util
import json
import re
import sys
import tempfile
import time
import types
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_GENERIC_DEF = re.compile(r"\bdef (\w+)\[([A-Za-z_]\w*)\]\(")
_FIRST_TOP_LEVEL = re.compile(r"^(?:class |def |async def |@|type )", re.MULTILINE)
_GENERIC_CLASS = re.compile(r"^class (\w+)\[([A-Za-z_]\w*)\](?:\(([^)]*)\))?:", re.MULTILINE)
_TYPE_ALIAS = re.compile(r"^type (\w+)(?:\[([A-Za-z_]\w*)\])? = ", re.MULTILINE)


def _classic_class(match: re.Match[str]) -> str:
    name, param, bases = match.group(1), match.group(2), match.group(3)
    return f"class {name}({bases + ', ' if bases else ''}_BenchGeneric[{param}]):"


class _Pep695Loader(importlib.machinery.SourceFileLoader):
    def source_to_code(self, data: Any, path: Any, *, _optimize: int = -1) -> Any:  # type: ignore[override]
        text = data.decode() if isinstance(data, bytes) else data
        params = sorted(
            {param for _, param in _GENERIC_DEF.findall(text)}
            | {m[1] for m in _GENERIC_CLASS.findall(text)}
            | {param for _, param in _TYPE_ALIAS.findall(text) if param}
        )
        if params:  # the TypeVars go before the first statement that may use one (a def, a class or an alias)
            header = "from typing import Generic as _BenchGeneric, TypeVar as _BenchTypeVar\n" + "".join(
                f'{p} = _BenchTypeVar("{p}")\n' for p in params
            )
            first = _FIRST_TOP_LEVEL.search(text)
            at = first.start() if first else len(text)
            text = text[:at] + header + text[at:]
        text = _TYPE_ALIAS.sub(r"\1 = ", text)
        text = _GENERIC_DEF.sub(r"def \1(", text)
        text = _GENERIC_CLASS.sub(_classic_class, text)
        return compile(text, path, "exec", dont_inherit=True)


class _Pep695Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "council" and not name.startswith("council."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            spec.loader = _Pep695Loader(spec.loader.name, spec.loader.path)
        return spec


def _shim_for_311() -> None:
    if sys.version_info >= (3, 12):  # noqa: UP036  # this file also runs on 3.11, below the project's floor
        return
    sys.dont_write_bytecode = True  # no cpython-311 caches of rewritten source in main-service/src
    sys.meta_path.insert(0, _Pep695Finder())
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        stub = types.ModuleType("llama_cpp")
        stub.Llama = object  # type: ignore[attr-defined]
        chat_format = types.ModuleType("llama_cpp.llama_chat_format")
        chat_format.Jinja2ChatFormatter = object  # type: ignore[attr-defined]
        stub.llama_chat_format = chat_format  # type: ignore[attr-defined]
        sys.modules["llama_cpp"] = stub
        sys.modules["llama_cpp.llama_chat_format"] = chat_format


_shim_for_311()

import httpx  # noqa: E402
from asgi_lifespan import LifespanManager  # noqa: E402
from council import lifespan as council_lifespan  # noqa: E402
from council.app import create_app  # noqa: E402
from council.auth import LOCAL  # noqa: E402
from council.kip.agents import AgentCreate  # noqa: E402
from council.kip.ledger import TREASURY, Posting, TransactionKind  # noqa: E402
from council.kip.stores.sqlite import SqliteKipStore  # noqa: E402
from council.llm import ModelRegistry  # noqa: E402
from council.orchestrator import open_orchestrator  # noqa: E402
from council.orchestrator.events import FinalEvent  # noqa: E402
from council.pheromind.stores.memory import MemoryPheromoneStore  # noqa: E402
from council.settings import Settings  # noqa: E402


def _scripted_model_class() -> Any:
    spec = importlib.util.spec_from_file_location("scripted", ROOT / "main-service" / "tests" / "llm" / "scripted.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ScriptedChatModel


ScriptedChatModel = _scripted_model_class()
TOKENS = [f" word{n}" for n in range(32)]  # an answer of 32 tokens, streamed with no delay


def scripted_registry() -> ModelRegistry:
    roles = ("analytical", "creative", "critical", "chair", "fast")
    return ModelRegistry({role: ScriptedChatModel(model_name=role, tokens=TOKENS) for role in roles})


def bench_settings(directory: Path) -> Settings:
    return Settings(
        _env_file=None,
        voice={"base_url": "http://127.0.0.1:9", "watch_interval_s": 3600},  # nothing listens; never probed again
        memory={"data_dir": directory / "memory"},
        kip={"data_dir": directory / "kip"},
        log={"level": "WARNING"},
        rate_limit={"enabled": False},
        voice_ws={"read_words": False},  # no model in these workloads (the 3.11 run stubs llama.cpp)
    )


# ---- workloads: each is `async (scale) -> None`, timed as a whole ------------------------------------------------


async def asgi_requests(app: Any, scale: float) -> None:
    """Requests through the whole middleware stack: health, a 422, OpenAPI-shaped JSON, a chat turn."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        for n in range(int(100 * scale)):
            (await client.get("/health/live")).raise_for_status()
            assert (await client.post("/api/chat", json={"message": ""})).status_code == 422
            (await client.get("/api/pheromind/trails")).raise_for_status()
            if n % 4 == 0:
                (await client.post("/api/chat", json={"message": f"/fast hello {n}"})).raise_for_status()


async def ws_fanout(app: Any, scale: float) -> None:
    """20 `/ws/chat` sockets at once, each one /fast turn of 32 streamed tokens: every event JSON-encoded and sent.
    Twenty users (an address each), as one client may run only a few turns at once (its fair share)."""

    async def one_socket(n: int) -> int:
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        scope = {
            "type": "websocket", "asgi": {"version": "3.0"}, "scheme": "ws", "http_version": "1.1",
            "path": "/ws/chat", "raw_path": b"/ws/chat", "query_string": b"", "root_path": "",
            "headers": [(b"host", b"localhost")], "client": (f"127.0.0.{n + 1}", 40000), "server": ("localhost", 80),
            "subprotocols": [], "state": app_state,
        }  # fmt: skip
        await inbox.put({"type": "websocket.connect"})
        frame = {"type": "message", "id": f"t{n}", "text": f"/fast question {n}"}
        await inbox.put({"type": "websocket.receive", "text": json.dumps(frame)})
        task = asyncio.create_task(app(scope, inbox.get, outbox.put))
        events = 0
        while True:
            message = await outbox.get()
            if message["type"] == "websocket.send":
                events += 1
                if json.loads(message["text"])["type"] in ("final", "error"):
                    break
        await inbox.put({"type": "websocket.disconnect", "code": 1000})
        await task
        return events

    app_state = getattr(app, "_bench_state", {})
    for _ in range(max(1, int(5 * scale))):
        counts = await asyncio.gather(*(one_socket(n) for n in range(20)))
        assert min(counts) >= len(TOKENS)


async def json_pydantic(app: Any, scale: float) -> None:
    """Validation and serialization the API does per request: settings, request models, events, JSON."""
    from council.api.chat import ChatRequest
    from council.api.openai_compat import ChatCompletionRequest

    body = {"model": "council", "stream": True, "messages": [{"role": "user", "content": "hello " * 40}] * 6}
    for n in range(int(2000 * scale)):
        ChatRequest.model_validate_json(json.dumps({"message": f"hello {n}", "path": "auto"}))
        request = ChatCompletionRequest.model_validate(body)
        json.loads(json.dumps(request.model_dump()))
        if n % 100 == 0:
            Settings(_env_file=None)


async def ledger_ops(app: Any, scale: float) -> None:
    """KIP ledger on SQLite (durability normal): 300 transfers, each awaited, plus balance reads."""
    with tempfile.TemporaryDirectory() as directory:
        store = SqliteKipStore(Path(directory) / "kip.sqlite3", durability="normal")
        await store.open()
        try:
            agents = [
                (await store.create_agent(AgentCreate(name=f"a{n}"), per_call_cap=0, daily_cap=0)).id for n in range(10)
            ]
            await store.post(Posting(kind=TransactionKind.MINT, source=None, target=TREASURY, amount=10**9))
            for agent in agents:
                await store.post(Posting(kind=TransactionKind.FUNDING, source=TREASURY, target=agent, amount=10**6))
            for n in range(int(300 * scale)):
                source, target = agents[n % 10], agents[(n + 3) % 10]
                await store.post(
                    Posting(
                        kind=TransactionKind.TRANSFER, source=source, target=target, amount=1, idempotency_key=f"k{n}"
                    )
                )
                if n % 10 == 0:
                    await store.balances()
        finally:
            await store.close()


async def pheromind_ops(app: Any, scale: float) -> None:
    """In-process Pheromind: deposit + read on 100 signatures, sequential then 64 at a time."""
    store = MemoryPheromoneStore(half_life_s=6.0)

    async def op(n: int) -> None:
        signature = f"q:{n % 100}"
        await store.deposit(signature, amount=1.0, ttl_s=12.0, source="bench", topics=["bench"])
        await store.get(signature)

    ops = int(5000 * scale)
    for n in range(ops):
        await op(n)
    gate = asyncio.Semaphore(64)

    async def bounded(n: int) -> None:
        async with gate:
            await op(n)

    await asyncio.gather(*(bounded(n) for n in range(ops)))


async def orchestrator_graph(app: Any, scale: float) -> None:
    """The LangGraph orchestrator with instant scripted models: /council and /fast turns, checkpointed to SQLite."""
    with tempfile.TemporaryDirectory() as directory:
        settings = bench_settings(Path(directory))
        async with open_orchestrator(settings, models=scripted_registry()) as orchestrator:
            for n in range(int(20 * scale)):
                final = await orchestrator.answer(await orchestrator.admit(f"/council question {n}", caller=LOCAL))
                assert isinstance(final, FinalEvent)
                await orchestrator.answer(await orchestrator.admit(f"/fast question {n}", caller=LOCAL))


WORKLOADS: dict[str, Callable[[Any, float], Awaitable[None]]] = {
    "asgi_requests": asgi_requests,
    "ws_fanout": ws_fanout,
    "json_pydantic": json_pydantic,
    "ledger_ops": ledger_ops,
    "pheromind_ops": pheromind_ops,
    "orchestrator_graph": orchestrator_graph,
}


async def run(reps: int, scale: float, only: list[str]) -> dict[str, list[float]]:
    # The app's lifespan opens its orchestrator with the scripted registry instead of the embedded model.
    council_lifespan.open_orchestrator = functools.partial(open_orchestrator, models=scripted_registry())  # type: ignore[assignment]
    timings: dict[str, list[float]] = {name: [] for name in only}
    with tempfile.TemporaryDirectory() as directory:
        async with LifespanManager(create_app(bench_settings(Path(directory)))) as manager:
            app = manager.app
            app._bench_state = dict(manager._state)  # type: ignore[attr-defined]  # lifespan state for raw ASGI scopes
            for name in only:
                await WORKLOADS[name](app, min(scale, 0.2))  # warm-up: imports, caches, first-call costs
            for _ in range(reps):
                for name in only:  # interleaved, so drift on the shared machine hits every workload alike
                    gc.collect()
                    started = time.perf_counter()
                    await WORKLOADS[name](app, scale)
                    timings[name].append(time.perf_counter() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--only", nargs="*", default=list(WORKLOADS))
    args = parser.parse_args()
    timings = asyncio.run(run(args.reps, args.scale, args.only))
    print(json.dumps({"python": sys.version.split()[0], "timings_s": timings}))


if __name__ == "__main__":
    main()
