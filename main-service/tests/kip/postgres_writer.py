"""A writer process for the PostgreSQL concurrency test: posts every transfer of a shared plan, in its own order.

Every process posts the same keys (each a fixed movement), so each key is submitted concurrently by all of them:
the database must apply it once and replay it to the rest. One JSON line per key: its transaction id and whether it
was replayed, or null when the source could not afford it at that moment.
"""

import asyncio
import json
import random
import sys

from council.kip.errors import InsufficientFundsError
from council.kip.ledger import Posting, TransactionKind
from council.kip.stores.postgres import PostgresKipStore


def planned(key: int, agents: list[str]) -> Posting:
    """The movement a key stands for: the same in every process (a replay must match it)."""
    plan = random.Random(key)  # noqa: S311 - a reproducible workload, not secrets
    source, target = plan.sample(agents, 2)
    return Posting(
        kind=TransactionKind.TRANSFER,
        source=source,
        target=target,
        amount=plan.randint(1, 150),
        idempotency_key=f"k-{key}",
    )


async def main(url: str, schema: str, seed: int, keys: int) -> None:
    store = PostgresKipStore(url, schema=schema, pool_size=4)
    await store.open()
    try:
        agents = sorted(agent.id for agent in await store.list_agents())
        order = list(range(keys))
        random.Random(seed).shuffle(order)  # noqa: S311 - a reproducible workload, not secrets

        async def post(key: int) -> dict[str, object]:
            try:
                receipt = await store.post(planned(key, agents))
            except InsufficientFundsError:
                return {"key": f"k-{key}", "id": None}
            return {"key": f"k-{key}", "id": receipt.transaction.id, "replayed": receipt.replayed}

        # A few posts in flight at once per process, on the process's own pool.
        for start in range(0, keys, 8):
            for line in await asyncio.gather(*(post(key) for key in order[start : start + 8])):
                sys.stdout.write(json.dumps(line) + "\n")
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
