"""Pheromind store throughput: one deposit + one read per op, in-process vs Redis, side by side in one run.

Each round does N ops sequentially (deposit then get on one of 100 signatures), then N ops concurrently
(asyncio.gather, 64 in flight), against the in-process store and the Redis store (127.0.0.1:6379, a throwaway key prefix that
is deleted afterwards). Reports median ops/s per store and mode. Usage: make bench, or
main-service/.venv/bin/python bench/pheromind/deposit_read.py [--ops N] [--rounds R]; QUICK=1: 200 ops x 2 rounds.
"""

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

import redis.asyncio as aioredis
from council.pheromind.stores.base import PheromoneStore
from council.pheromind.stores.memory import MemoryPheromoneStore
from council.pheromind.stores.redis import RedisPheromoneStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _stats import paired_ratio, size_options, summary, write_result

IN_FLIGHT = 64  # concurrent ops at once (a busy service, not an unbounded burst)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


async def op(store: PheromoneStore, n: int) -> None:
    signature = f"q:{n % 100}"
    await store.deposit(signature, amount=1.0, ttl_s=12.0, source="bench", topics=["bench"])
    await store.get(signature)


async def measure(store: PheromoneStore, ops: int) -> dict[str, float]:
    started = time.perf_counter()
    for n in range(ops):
        await op(store, n)
    sequential = ops / (time.perf_counter() - started)
    in_flight = asyncio.Semaphore(IN_FLIGHT)

    async def bounded(n: int) -> None:
        async with in_flight:
            await op(store, n)

    started = time.perf_counter()
    await asyncio.gather(*(bounded(n) for n in range(ops)))
    concurrent = ops / (time.perf_counter() - started)
    return {"sequential": sequential, "concurrent": concurrent}


async def run(ops: int, rounds: int) -> dict[str, object]:
    prefix = f"bench:pheromind:{secrets.token_hex(4)}:"
    samples: dict[str, list[dict[str, float]]] = {"memory": [], "redis": []}
    try:
        for _ in range(rounds):  # alternate the two stores round by round so drift hits both alike
            memory = MemoryPheromoneStore(half_life_s=6.0)
            samples["memory"].append(await measure(memory, ops))
            redis_store = RedisPheromoneStore(REDIS_URL, key_prefix=prefix, half_life_s=6.0)
            try:
                samples["redis"].append(await measure(redis_store, ops))
            finally:
                await redis_store.close()
    finally:
        client = aioredis.Redis.from_url(REDIS_URL)
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    return {
        name: {
            "sequential_ops_per_s_median": round(statistics.median(s["sequential"] for s in runs), 1),
            "concurrent_ops_per_s_median": round(statistics.median(s["concurrent"] for s in runs), 1),
            "sequential_ops_per_s": summary([s["sequential"] for s in runs], "ops/s per round", 1),
            "concurrent_ops_per_s": summary([s["concurrent"] for s in runs], "ops/s per round", 1),
        }
        for name, runs in samples.items()
    } | {
        "memory_over_redis_sequential": paired_ratio(
            [s["sequential"] for s in samples["memory"]], [s["sequential"] for s in samples["redis"]]
        ),
        "memory_over_redis_concurrent": paired_ratio(
            [s["concurrent"] for s in samples["memory"]], [s["concurrent"] for s in samples["redis"]]
        ),
    }


def main() -> None:
    args = size_options(argparse.ArgumentParser(description=__doc__), ops=(200, 5000), rounds=(2, 5)).parse_args()
    result = {
        "redis_url": REDIS_URL,
        "op": "deposit + get of one signature",
        "ops_per_round": args.ops,
        "rounds": args.rounds,
        **asyncio.run(run(args.ops, args.rounds)),
    }
    write_result("pheromind_deposit_read", result)


if __name__ == "__main__":
    main()
