"""The PostgreSQL KIP schema as numbered migrations, applied once each on start-up and recorded in the database.

The constraints are the ledger invariants (balances never negative, one transaction per idempotency key, gapless
ledger positions); the store's row locks only turn a refused write into the right error before the constraint does.
"""

from psycopg import AsyncConnection, sql
from psycopg.rows import DictRow

SCHEMA_VERSION_TABLE = "kip_schema_version"

# Each entry is (version, statements). Append only: a released migration never changes, a new one upgrades it.
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
CREATE TABLE accounts (
    id      TEXT COLLATE "C" PRIMARY KEY,
    kind    TEXT NOT NULL CHECK (kind IN ('treasury', 'agent')),
    balance BIGINT NOT NULL DEFAULT 0 CHECK (balance >= 0)
);

CREATE TABLE agents (
    id           TEXT COLLATE "C" PRIMARY KEY REFERENCES accounts (id),
    name         TEXT NOT NULL,
    role         TEXT NOT NULL,
    capabilities JSONB NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('active', 'paused')),
    per_call_cap BIGINT NOT NULL CHECK (per_call_cap >= 0),
    daily_cap    BIGINT NOT NULL CHECK (daily_cap >= 0),
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX agents_name ON agents (lower(name));

-- The one row every posting updates right before it inserts: positions are handed out in commit order, without
-- gaps, so a reader paging by `seq` never skips a transaction that commits after it read past its position.
CREATE TABLE ledger_head (
    only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    last_seq BIGINT NOT NULL CHECK (last_seq >= 0)
);
INSERT INTO ledger_head (last_seq) VALUES (0);

CREATE TABLE transactions (
    seq             BIGINT PRIMARY KEY CHECK (seq > 0),
    id              TEXT COLLATE "C" NOT NULL UNIQUE,
    kind            TEXT NOT NULL CHECK (kind IN ('mint', 'burn', 'funding', 'charge', 'reward', 'transfer')),
    amount          BIGINT NOT NULL CHECK (amount > 0),
    source          TEXT COLLATE "C" REFERENCES accounts (id),
    target          TEXT COLLATE "C" REFERENCES accounts (id),
    reason          TEXT NOT NULL,
    idempotency_key TEXT COLLATE "C" UNIQUE,
    fingerprint     TEXT NOT NULL,
    request_id      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    CHECK (source IS NOT NULL OR target IS NOT NULL),
    CHECK (source IS NULL OR target IS NULL OR source <> target)
);
CREATE INDEX transactions_created ON transactions (created_at);

CREATE TABLE legs (
    seq     BIGINT NOT NULL REFERENCES transactions (seq),
    account TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    side    TEXT NOT NULL CHECK (side IN ('debit', 'credit')),
    amount  BIGINT NOT NULL CHECK (amount > 0),
    PRIMARY KEY (seq, side)
);
CREATE INDEX legs_account ON legs (account, seq);

CREATE TABLE tool_calls (
    id              TEXT COLLATE "C" PRIMARY KEY,
    agent_id        TEXT COLLATE "C" NOT NULL REFERENCES agents (id),
    tool            TEXT NOT NULL,
    ok              BOOLEAN NOT NULL,
    cost            BIGINT NOT NULL CHECK (cost >= 0),
    transaction_id  TEXT COLLATE "C" REFERENCES transactions (id),
    created_at      TIMESTAMPTZ NOT NULL,
    idempotency_key TEXT COLLATE "C" UNIQUE,
    fingerprint     TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('running', 'done')),
    output          TEXT NOT NULL,
    data            JSONB NOT NULL,
    balance         BIGINT NOT NULL
);
CREATE INDEX tool_calls_agent ON tool_calls (agent_id, created_at);

CREATE TABLE knowledge (
    id         TEXT COLLATE "C" PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('note', 'fact', 'decision')),
    topic      TEXT NOT NULL,
    content    TEXT NOT NULL,
    source     TEXT,
    agent_id   TEXT COLLATE "C" REFERENCES agents (id),
    data       JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX knowledge_topic ON knowledge (lower(topic));
CREATE INDEX knowledge_source ON knowledge (source, created_at);

CREATE TABLE conversations (
    thread_id     TEXT PRIMARY KEY CHECK (length(thread_id) BETWEEN 1 AND 200),
    title         TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    message_count INTEGER NOT NULL CHECK (message_count >= 0),
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    CHECK (updated_at >= created_at)
);

CREATE TABLE messages (
    id         TEXT COLLATE "C" PRIMARY KEY,
    thread_id  TEXT NOT NULL REFERENCES conversations (thread_id),
    position   INTEGER NOT NULL CHECK (position >= 0),
    role       TEXT NOT NULL CHECK (role IN ('user', 'council')),
    text       TEXT NOT NULL CHECK (length(text) <= 20000),
    truncated  BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (thread_id, position)
);

-- The graph edge message -decided-> decision (a knowledge item of kind 'decision'); a decision has one origin.
CREATE TABLE decided (
    message_id   TEXT COLLATE "C" NOT NULL REFERENCES messages (id),
    knowledge_id TEXT COLLATE "C" NOT NULL UNIQUE REFERENCES knowledge (id),
    PRIMARY KEY (message_id, knowledge_id)
);

INSERT INTO accounts (id, kind, balance) VALUES ('treasury', 'treasury', 0);
""",
    ),
)

LATEST_VERSION = MIGRATIONS[-1][0]


class SchemaTooNewError(RuntimeError):
    """The database was migrated by a newer release than this one."""


async def migrate(conn: AsyncConnection[DictRow], schema: str) -> int:
    """Bring `schema` to LATEST_VERSION in one transaction and return the version found before. Replicas starting
    together queue on a transaction-scoped advisory lock, so each migration runs exactly once."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"council.kip.migrate:{schema}",))
        await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        table = sql.Identifier(schema, SCHEMA_VERSION_TABLE)
        await conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            ).format(table)
        )
        cursor = await conn.execute(sql.SQL("SELECT COALESCE(max(version), 0) AS version FROM {}").format(table))
        row = await cursor.fetchone()
        found = int(row["version"]) if row is not None else 0
        if found > LATEST_VERSION:
            raise SchemaTooNewError(
                f"The KIP schema {schema!r} is at version {found}, newer than this release knows ({LATEST_VERSION}):"
                " run the newer release, or point COUNCIL_KIP__POSTGRES_SCHEMA at another schema."
            )
        await conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
        for version, statements in MIGRATIONS:
            if version > found:
                await conn.execute(statements)  # trusted, fixed text (no parameters)
                await conn.execute(sql.SQL("INSERT INTO {} (version) VALUES (%s)").format(table), (version,))
        return found
