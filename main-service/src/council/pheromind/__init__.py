"""Pheromind: short-lived trails left by each turn, read by the router and used as a marked answer cache."""

from council.pheromind.patterns import Pheromone, question_signature
from council.pheromind.service import CachedAnswer, Pheromind, TrailSignal, build_store, open_pheromind
from council.pheromind.stores.base import PheromoneStore, PheromoneStoreUnavailable
from council.topics import normalize, topics

__all__ = [
    "CachedAnswer",
    "Pheromind",
    "Pheromone",
    "PheromoneStore",
    "PheromoneStoreUnavailable",
    "TrailSignal",
    "build_store",
    "normalize",
    "open_pheromind",
    "question_signature",
    "topics",
]
