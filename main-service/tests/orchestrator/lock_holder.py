"""A stand-in replica for the lock tests: takes a thread's turn lock through the real PostgreSQL lock, says so on
stdout, and keeps it until it is killed."""

import asyncio
import sys

from council.orchestrator.thread_locks_postgres import open_postgres_thread_locks
from council.settings import MemorySettings


async def main(url: str, thread_id: str) -> None:
    settings = MemorySettings(backend="postgres", postgres_url=url)
    async with open_postgres_thread_locks(settings) as locks, locks.hold(thread_id):
        sys.stdout.write("held\n")
        sys.stdout.flush()
        await asyncio.Event().wait()  # until SIGKILL


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
