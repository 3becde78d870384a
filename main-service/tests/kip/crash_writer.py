"""A writer process for the crash test: posts transfers forever, printing each transaction id once committed."""

import asyncio
import random
import sys
from pathlib import Path

from council.kip.errors import InsufficientFundsError
from council.kip.ledger import Posting, TransactionKind
from council.kip.stores.sqlite import SqliteKipStore


async def main(path: Path) -> None:
    store = SqliteKipStore(path, durability="full")
    await store.open()
    agents = [agent.id for agent in await store.list_agents()]
    rng = random.Random()  # noqa: S311 - picks test transfers, not secrets
    n = 0
    while True:
        n += 1
        source, target = rng.sample(agents, 2)
        posting = Posting(
            kind=TransactionKind.TRANSFER,
            source=source,
            target=target,
            amount=rng.randint(1, 20),
            idempotency_key=f"crash-{n}",
        )
        try:
            receipt = await store.post(posting)
        except InsufficientFundsError:
            continue
        # Printed only after COMMIT returned: every id the parent reads was acknowledged.
        sys.stdout.write(f"{receipt.transaction.id}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
