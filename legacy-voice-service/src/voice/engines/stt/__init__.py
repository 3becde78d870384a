"""STT engines."""
