"""End-of-turn engines."""
