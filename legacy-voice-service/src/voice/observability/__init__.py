"""Logging and request correlation."""
