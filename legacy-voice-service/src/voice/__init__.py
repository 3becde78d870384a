"""Hybrid AI Council voice service: speech-to-text, text-to-speech and voice-activity detection."""

from importlib.metadata import version

__version__ = version("hybrid-council-voice")
