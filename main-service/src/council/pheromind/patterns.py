"""Pheromones: normalized signatures of what was asked, and trail strength that decays exponentially."""

import hashlib
from typing import Any

from pydantic import BaseModel, Field

from council.topics import normalize

QUESTION_PREFIX = "q:"
TOPIC_PREFIX = "t:"
ANSWER_PREFIX = "a:"
TRAIL_PREFIXES = (QUESTION_PREFIX, TOPIC_PREFIX)
"""What operators see as trails (every caller's); cached answers (`a:`) are kept apart, for their scope alone."""


def _digest(scope: str, text: str) -> str:
    return hashlib.sha256(f"{scope}\n{normalize(text)}".encode()).hexdigest()[:24]


def question_signature(text: str, scope: str) -> str:
    """`scope`'s (one caller's) trail of this question: trails are per caller, so one client's questions neither
    steer another's routing nor show in its reasons."""
    return f"{QUESTION_PREFIX}{_digest(scope, text)}"


def answer_signature(text: str, scope: str) -> str:
    """Where the cached answer to `text` is kept for `scope` (one caller): no other scope can read or overwrite it."""
    return f"{ANSWER_PREFIX}{_digest(scope, text)}"


def topic_signature(topic: str, scope: str) -> str:
    """`scope`'s trail of one topic word, readable in the operator's listing (`t:alice/redis`)."""
    return f"{TOPIC_PREFIX}{scope}/{normalize(topic).replace(' ', '-')}"


def decayed(strength: float, elapsed_s: float, half_life_s: float) -> float:
    factor: float = 0.5 ** (max(elapsed_s, 0.0) / half_life_s)
    return strength * factor


class Trail(BaseModel):
    """A stored pheromone as written: strength as of its last deposit; readers apply the decay."""

    signature: str
    strength: float = Field(description="Strength at `updated_at`, before decay.")
    deposited_at: float = Field(description="First deposit, seconds since the epoch.")
    updated_at: float = Field(description="Last deposit (reinforcement), seconds since the epoch.")
    expires_at: float = Field(description="When it evaporates: `updated_at` + `ttl_s`.")
    ttl_s: float
    deposits: int
    source: str
    topics: list[str]
    payload: dict[str, Any]


class Pheromone(BaseModel):
    """A live trail as read at one moment."""

    signature: str
    strength: float = Field(description="Decayed strength now.")
    deposited_at: float
    updated_at: float
    expires_in_s: float
    ttl_s: float
    deposits: int
    source: str
    topics: list[str]
    payload: dict[str, Any]

    @classmethod
    def read(cls, trail: Trail, now: float, half_life_s: float) -> "Pheromone":
        return cls(
            signature=trail.signature,
            strength=decayed(trail.strength, now - trail.updated_at, half_life_s),
            deposited_at=trail.deposited_at,
            updated_at=trail.updated_at,
            expires_in_s=trail.expires_at - now,
            ttl_s=trail.ttl_s,
            deposits=trail.deposits,
            source=trail.source,
            topics=trail.topics,
            payload=trail.payload,
        )
