"""VAD engines."""
