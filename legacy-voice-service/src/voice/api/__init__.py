"""HTTP and WebSocket routes; nothing below `api` imports it."""
