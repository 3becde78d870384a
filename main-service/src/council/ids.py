"""Identifiers taken from callers (thread, turn and request IDs) and minted here: one pattern for all of them, one
place that mints a conversation's ID."""

import re
import uuid

# Safe as they are in logs, URLs, file names and store keys; long enough for any client's own UUIDs or ULIDs.
ID_PATTERN = r"^[A-Za-z0-9._:\-]{1,128}$"
VALID_ID = re.compile(ID_PATTERN)


def new_thread_id() -> str:
    """The ID of a conversation the caller did not name."""
    return uuid.uuid4().hex
