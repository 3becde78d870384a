"""The embedded KIP schema; its constraints are the ledger invariants, enforced by SQLite itself."""

import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id      TEXT PRIMARY KEY,
    kind    TEXT NOT NULL CHECK (kind IN ('treasury', 'agent')),
    balance INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0)
) STRICT;

CREATE TABLE IF NOT EXISTS agents (
    id           TEXT PRIMARY KEY REFERENCES accounts (id),
    name         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    role         TEXT NOT NULL,
    capabilities TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('active', 'paused')),
    per_call_cap INTEGER NOT NULL CHECK (per_call_cap >= 0),
    daily_cap    INTEGER NOT NULL CHECK (daily_cap >= 0),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS transactions (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL CHECK (kind IN ('mint', 'burn', 'funding', 'charge', 'reward', 'transfer')),
    amount          INTEGER NOT NULL CHECK (amount > 0),
    source          TEXT REFERENCES accounts (id),
    target          TEXT REFERENCES accounts (id),
    reason          TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    fingerprint     TEXT NOT NULL,
    request_id      TEXT,
    created_at      TEXT NOT NULL,
    CHECK (source IS NOT NULL OR target IS NOT NULL),
    CHECK (source IS NULL OR target IS NULL OR source <> target)
) STRICT;
CREATE INDEX IF NOT EXISTS transactions_created ON transactions (created_at);

CREATE TABLE IF NOT EXISTS legs (
    seq     INTEGER NOT NULL REFERENCES transactions (seq),
    account TEXT NOT NULL REFERENCES accounts (id),
    side    TEXT NOT NULL CHECK (side IN ('debit', 'credit')),
    amount  INTEGER NOT NULL CHECK (amount > 0),
    PRIMARY KEY (seq, side)
) STRICT;
CREATE INDEX IF NOT EXISTS legs_account ON legs (account, seq);

CREATE TABLE IF NOT EXISTS tool_calls (
    id             TEXT PRIMARY KEY,
    agent_id       TEXT NOT NULL REFERENCES agents (id),
    tool           TEXT NOT NULL,
    ok             INTEGER NOT NULL CHECK (ok IN (0, 1)),
    cost           INTEGER NOT NULL CHECK (cost >= 0),
    transaction_id TEXT REFERENCES transactions (id),
    created_at     TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS tool_calls_agent ON tool_calls (agent_id, created_at);

CREATE TABLE IF NOT EXISTS knowledge (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('note', 'fact', 'decision')),
    topic      TEXT NOT NULL,
    content    TEXT NOT NULL,
    source     TEXT,
    agent_id   TEXT REFERENCES agents (id),
    data       TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS knowledge_topic ON knowledge (topic COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS knowledge_source ON knowledge (source, created_at);

-- The conversations council decisions came from (added after the first release: every statement here is
-- IF NOT EXISTS, so opening an older database file adds them and changes nothing else).
CREATE TABLE IF NOT EXISTS conversations (
    thread_id     TEXT PRIMARY KEY CHECK (length(thread_id) BETWEEN 1 AND 200),
    title         TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    message_count INTEGER NOT NULL CHECK (message_count >= 0),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    CHECK (updated_at >= created_at)
) STRICT;

CREATE TABLE IF NOT EXISTS messages (
    id         TEXT PRIMARY KEY,
    thread_id  TEXT NOT NULL REFERENCES conversations (thread_id),
    position   INTEGER NOT NULL CHECK (position >= 0),
    role       TEXT NOT NULL CHECK (role IN ('user', 'council')),
    text       TEXT NOT NULL CHECK (length(text) <= 20000),
    truncated  INTEGER NOT NULL CHECK (truncated IN (0, 1)),
    created_at TEXT NOT NULL,
    UNIQUE (thread_id, position)
) STRICT;

-- The graph edge message -decided-> decision (a knowledge item of kind 'decision'); a decision has one origin.
CREATE TABLE IF NOT EXISTS decided (
    message_id   TEXT NOT NULL REFERENCES messages (id),
    knowledge_id TEXT NOT NULL UNIQUE REFERENCES knowledge (id),
    PRIMARY KEY (message_id, knowledge_id)
) STRICT;

INSERT OR IGNORE INTO accounts (id, kind, balance) VALUES ('treasury', 'treasury', 0);
"""

# Columns added to a table after its first release. ALTER TABLE … ADD COLUMN has no IF NOT EXISTS, so `upgrade`
# adds each one a file lacks — a new file too, so that there is one path for both — then what depends on them.
ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    # A tool call's replay key, what a replay must match, and the result it returns (kip/calls.py). Calls recorded
    # before have no key, so they are never replayed and their defaults are never read as a result.
    ("tool_calls", "idempotency_key", "TEXT"),
    ("tool_calls", "fingerprint", "TEXT NOT NULL DEFAULT ''"),
    ("tool_calls", "state", "TEXT NOT NULL DEFAULT 'done' CHECK (state IN ('running', 'done'))"),
    ("tool_calls", "output", "TEXT NOT NULL DEFAULT ''"),
    ("tool_calls", "data", "TEXT NOT NULL DEFAULT '{}'"),
    ("tool_calls", "balance", "INTEGER NOT NULL DEFAULT 0"),
)
AFTER_ADDED_COLUMNS = """
CREATE UNIQUE INDEX IF NOT EXISTS tool_calls_key ON tool_calls (idempotency_key);
"""

# The one table a write probe writes: a readiness check after a write failed for lack of room (sqlite.py, ping).
PROBE_TABLE = "CREATE TABLE IF NOT EXISTS write_probe (id INTEGER PRIMARY KEY, filler BLOB NOT NULL) STRICT;"


def upgrade(conn: sqlite3.Connection) -> None:
    """Add the columns the file lacks and what depends on them; run inside the caller's write transaction."""
    for table, column, definition in ADDED_COLUMNS:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
    for statement in filter(str.strip, (AFTER_ADDED_COLUMNS + PROBE_TABLE).split(";")):
        conn.execute(statement)
