"""TTS engines."""
