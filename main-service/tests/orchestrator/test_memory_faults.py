"""The conversation store with no room left: a refused write is a 507 (`storage_full`), readiness fails until a write
fits again, and then recovers on its own. SQLite's own SQLITE_FULL is provoked in `tests/api/test_health.py`; here
PostgreSQL's `disk_full`."""

from pathlib import Path

import anyio
import psycopg
import pytest
from psycopg import sql

from council.auth import LOCAL
from council.errors import CouncilError
from council.health import HealthStatus
from council.llm import ModelRegistry
from council.orchestrator import open_orchestrator
from council.settings import Settings
from tests.kip.postgres_db import scratch_database

pytestmark = pytest.mark.anyio


# PostgreSQL's own answer to a write on a full disk (SQLSTATE 53100, `disk_full`), given by the server itself for
# every table a turn or the readiness probe writes, until the triggers go: a disk that fills up, then has room again.
_NO_ROOM = """
CREATE FUNCTION no_room() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$
"""
_TRIGGER = "CREATE TRIGGER full_disk BEFORE INSERT OR UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION no_room()"


async def test_a_full_postgresql_disk_is_507_and_fails_readiness_until_a_write_fits(
    models: ModelRegistry, tmp_path: Path
) -> None:
    with scratch_database() as url:
        settings = Settings(_env_file=None, memory={"backend": "postgres", "postgres_url": url})
        async with open_orchestrator(settings, models=models) as orchestrator:
            with psycopg.connect(url, autocommit=True) as db:
                db.execute(_NO_ROOM)
                tables = [row[0] for row in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
                for table in tables:
                    db.execute(sql.SQL(_TRIGGER).format(sql.Identifier(table)))
            with anyio.fail_after(60), pytest.raises(CouncilError) as refused:
                await orchestrator.answer(await orchestrator.admit("/fast Remember me?", caller=LOCAL))
            full = await orchestrator.readiness_check()
            with psycopg.connect(url, autocommit=True) as db:
                for table in tables:
                    db.execute(sql.SQL("DROP TRIGGER full_disk ON {}").format(sql.Identifier(table)))
            recovered = await orchestrator.readiness_check()
            room_again = await orchestrator.admit("/fast Remember me?", caller=LOCAL)
            with anyio.fail_after(60):
                await orchestrator.answer(room_again)
            assert room_again.thread_id is not None
            remembered = await orchestrator.threads.messages(room_again.thread_id, LOCAL)

    assert (refused.value.status_code, refused.value.code.value) == (507, "storage_full")
    assert full.status is HealthStatus.FAIL
    assert "no room" in full.output
    assert recovered.status is HealthStatus.PASS
    assert len(remembered) == 2
