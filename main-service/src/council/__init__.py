"""Hybrid AI Council main service."""

from importlib.metadata import version

__version__ = version("hybrid-council")
