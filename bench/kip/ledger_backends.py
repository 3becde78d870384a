"""KIP ledger throughput, PostgreSQL vs SQLite: transfers/s from one writer, and from several writer processes at once.

Each round, on a fresh store (a new SQLite file in a temp dir with the default durability `full`; a new schema in a
PostgreSQL database of this run, dropped at the end): N transfers awaited one by one from one store, then N
transfers split over P writer processes (the way replicas write), each with up to 8 in flight on its own store. The
processes open their stores first; the clock runs from "go" until the last one has finished. Every transfer has an
idempotency key and moves 1 unit between random funded agents, so none is refused. Reports the median transfers/s
over the rounds. Usage: make bench, or main-service/.venv/bin/python bench/kip/ledger_backends.py [--transfers N]
[--rounds R] [--processes P]; QUICK=1 runs 200 transfers x 2 rounds. PostgreSQL: BENCH_POSTGRES_SERVER (default
postgresql://postgres@127.0.0.1:5432), where the run creates and drops a database of its own.
"""

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from council.kip.agents import AgentCreate
from council.kip.ledger import TREASURY, Posting, TransactionKind
from council.kip.stores.base import KipStore
from council.kip.stores.postgres import PostgresKipStore
from council.kip.stores.sqlite import SqliteKipStore
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _stats import size_options, summary, write_result

AGENTS = 20
IN_FLIGHT = 8  # per writer process


def open_store(backend: str, location: str) -> KipStore:
    if backend == "sqlite":
        return SqliteKipStore(Path(location), durability="full", busy_timeout_s=60)
    url, schema = location.split("#")
    return PostgresKipStore(url, schema=schema, pool_size=IN_FLIGHT)


def transfer(agents: list[str], rng: random.Random, key: str) -> Posting:
    source, target = rng.sample(agents, 2)
    return Posting(kind=TransactionKind.TRANSFER, source=source, target=target, amount=1, idempotency_key=key)


async def worker(backend: str, location: str, label: str, count: int) -> None:
    """One writer process: open, say ready, wait for "go", post `count` transfers, say done."""
    store = open_store(backend, location)
    await store.open()
    try:
        agents = [agent.id for agent in await store.list_agents()]
        rng = random.Random(label)  # noqa: S311 - a reproducible workload, not secrets
        postings = [transfer(agents, rng, f"{label}-{n}") for n in range(count)]
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        limit = asyncio.Semaphore(IN_FLIGHT)

        async def post(posting: Posting) -> None:
            async with limit:
                await store.post(posting)

        await asyncio.gather(*(post(p) for p in postings))
    finally:
        await store.close()


def concurrent_processes(backend: str, location: str, transfers: int, processes: int, round_id: str) -> float:
    share = transfers // processes
    command = [sys.executable, __file__, "--worker", backend, location]
    writers = [
        subprocess.Popen(
            [*command, f"par-{round_id}-{p}", str(share)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for p in range(processes)
    ]
    try:
        for writer in writers:
            assert writer.stdout is not None
            assert writer.stdout.readline().strip() == "ready"
        started = time.perf_counter()
        for writer in writers:
            assert writer.stdin is not None
            writer.stdin.write("go\n")
            writer.stdin.flush()
        codes = [writer.wait(timeout=600) for writer in writers]
        elapsed = time.perf_counter() - started
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
    assert codes == [0] * processes, codes
    return share * processes / elapsed


async def one_round(backend: str, location: str, transfers: int, processes: int) -> dict[str, float]:
    store = open_store(backend, location)
    await store.open()
    try:
        agents = [
            (await store.create_agent(AgentCreate(name=f"a{n}"), per_call_cap=0, daily_cap=0)).id for n in range(AGENTS)
        ]
        await store.post(Posting(kind=TransactionKind.MINT, source=None, target=TREASURY, amount=10**9))
        for agent in agents:
            await store.post(Posting(kind=TransactionKind.FUNDING, source=TREASURY, target=agent, amount=10**6))
        rng = random.Random(7)  # noqa: S311 - a reproducible workload, not secrets
        round_id = uuid.uuid4().hex[:8]
        started = time.perf_counter()
        for n in range(transfers):
            await store.post(transfer(agents, rng, f"seq-{round_id}-{n}"))
        sequential = transfers / (time.perf_counter() - started)
        concurrent = await asyncio.to_thread(concurrent_processes, backend, location, transfers, processes, round_id)
        assert sum((await store.balances()).values()) == 10**9  # value moved, nothing leaked
    finally:
        await store.close()
    return {"sequential": sequential, "concurrent": concurrent}


@contextmanager
def postgres_database() -> Iterator[str]:
    server = os.environ.get("BENCH_POSTGRES_SERVER", "postgresql://postgres@127.0.0.1:5432")
    name = f"council_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def describe(samples: list[dict[str, float]]) -> dict[str, object]:
    return {
        "sequential_transfers_per_s_median": round(statistics.median(s["sequential"] for s in samples), 1),
        "concurrent_transfers_per_s_median": round(statistics.median(s["concurrent"] for s in samples), 1),
        "sequential_transfers_per_s": summary([s["sequential"] for s in samples], "transfers/s per round", 1),
        "concurrent_transfers_per_s": summary([s["concurrent"] for s in samples], "transfers/s per round", 1),
    }


async def run(transfers: int, rounds: int, processes: int, postgres_url: str) -> dict[str, object]:
    sqlite_samples, postgres_samples = [], []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as directory:
            path = str(Path(directory) / "kip.sqlite3")
            sqlite_samples.append(await one_round("sqlite", path, transfers, processes))
        schema = f"kip_{uuid.uuid4().hex[:12]}"
        postgres_samples.append(await one_round("postgres", f"{postgres_url}#{schema}", transfers, processes))
    return {"sqlite_full": describe(sqlite_samples), "postgres": describe(postgres_samples)}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        backend, location, label, count = sys.argv[2:6]
        asyncio.run(worker(backend, location, label, int(count)))
        return
    parser = size_options(argparse.ArgumentParser(description=__doc__), transfers=(200, 2000), rounds=(2, 5))
    parser.add_argument("--processes", type=int, default=4)
    args = parser.parse_args()
    with postgres_database() as url:
        with psycopg.connect(url) as conn:
            version = conn.execute("SHOW server_version").fetchone()
        result = {
            "sqlite_version": sqlite3.sqlite_version,
            "postgres_version": version[0] if version else "unknown",
            "transfers_per_round": args.transfers,
            "rounds": args.rounds,
            "writer_processes": args.processes,
            **asyncio.run(run(args.transfers, args.rounds, args.processes, url)),
        }
    write_result("kip_ledger_backends", result)


if __name__ == "__main__":
    main()
