"""KIP ledger throughput on SQLite: transfers/s one at a time and concurrently, per durability mode.

Each round runs, on a fresh database in a temp dir: N sequential transfers (each awaited before the next) and N
transfers submitted at once (asyncio.gather) through two store connections to the same file. Every transfer has an
idempotency key and moves 1 unit between random agents (all funded, so none is refused). Reports the median
transfers/s over the rounds. Usage: make bench, or main-service/.venv/bin/python bench/kip/ledger_transfers.py
[--transfers N] [--rounds R]; QUICK=1 runs 200 transfers x 2 rounds.
"""

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal

from council.kip.agents import AgentCreate
from council.kip.ledger import TREASURY, Posting, TransactionKind
from council.kip.stores.sqlite import SqliteKipStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _stats import size_options, summary, write_result

AGENTS = 20


async def one_round(transfers: int, durability: Literal["full", "normal"]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "kip.sqlite3"
        first = SqliteKipStore(path, durability=durability)
        second = SqliteKipStore(path, durability=durability)
        await first.open()
        await second.open()
        try:
            agents = [
                (await first.create_agent(AgentCreate(name=f"a{n}"), per_call_cap=0, daily_cap=0)).id
                for n in range(AGENTS)
            ]
            await first.post(Posting(kind=TransactionKind.MINT, source=None, target=TREASURY, amount=10**9))
            for agent in agents:
                await first.post(Posting(kind=TransactionKind.FUNDING, source=TREASURY, target=agent, amount=10**6))
            rng = random.Random(7)  # noqa: S311 - a reproducible workload, not secrets

            def posting(label: str, n: int) -> Posting:
                source, target = rng.sample(agents, 2)
                return Posting(
                    kind=TransactionKind.TRANSFER,
                    source=source,
                    target=target,
                    amount=1,
                    idempotency_key=f"{label}-{n}",
                )

            started = time.perf_counter()
            for n in range(transfers):
                await first.post(posting("seq", n))
            sequential = transfers / (time.perf_counter() - started)

            batch = [posting("par", n) for n in range(transfers)]
            started = time.perf_counter()
            await asyncio.gather(*((first if n % 2 else second).post(p) for n, p in enumerate(batch)))
            concurrent = transfers / (time.perf_counter() - started)
            assert sum((await first.balances()).values()) == 10**9  # the benchmark moved value, nothing leaked
        finally:
            await first.close()
            await second.close()
    return {"sequential": sequential, "concurrent": concurrent}


async def run(transfers: int, rounds: int) -> dict[str, object]:
    results: dict[str, object] = {}
    for durability in ("full", "normal"):
        samples = [await one_round(transfers, durability) for _ in range(rounds)]
        results[f"durability_{durability}"] = {
            "sequential_transfers_per_s_median": round(statistics.median(s["sequential"] for s in samples), 1),
            "concurrent_transfers_per_s_median": round(statistics.median(s["concurrent"] for s in samples), 1),
            "sequential_transfers_per_s": summary([s["sequential"] for s in samples], "transfers/s per round", 1),
            "concurrent_transfers_per_s": summary([s["concurrent"] for s in samples], "transfers/s per round", 1),
        }
    return results


def main() -> None:
    args = size_options(argparse.ArgumentParser(description=__doc__), transfers=(200, 2000), rounds=(2, 5)).parse_args()
    result = {
        "sqlite": sqlite3.sqlite_version,
        "transfers_per_round": args.transfers,
        "rounds": args.rounds,
        **asyncio.run(run(args.transfers, args.rounds)),
    }
    write_result("kip_ledger_transfers", result)


if __name__ == "__main__":
    main()
