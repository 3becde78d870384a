"""A reader process for the full-temp-store test: mounts a tiny tmpfs where SQLite keeps temporary files (its user
and mount namespaces are its own), runs a read whose sort spills there, and prints what the store made of it."""

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from council.kip.errors import StorageFullError
from council.kip.stores.sqlite import SqliteKipStore

# 50 000 rows of 100 random bytes, sorted: past SQLite's in-memory sorter (2 MB at the default cache size), so the
# sort spills to a temporary file, which the 64 KiB tmpfs cannot hold. A read: it writes nothing to the database.
SPILLING_SORT = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000)"
    " SELECT i, randomblob(100) AS noise FROM n ORDER BY noise"
)


async def main(path: Path) -> None:
    store = SqliteKipStore(path, durability="normal")
    await store.open()
    try:
        try:
            await store._run(lambda conn: conn.execute(SPILLING_SORT).fetchall())
            read = "no error"
        except StorageFullError as error:
            read = f"StorageFullError: {error}"
        write_fault = store.write_fault
        await store.ping()  # raises if readiness would fail
    finally:
        await store.close()
    sys.stdout.write(json.dumps({"read": read, "write_fault": write_fault}) + "\n")


if __name__ == "__main__":
    # Before SQLite creates any temporary file: SQLITE_TMPDIR, set by the parent, names this directory.
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", sys.argv[2]], check=True)
    asyncio.run(main(Path(sys.argv[1])))
