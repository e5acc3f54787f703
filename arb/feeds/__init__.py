"""Live funding over WebSocket: per-venue dialects on a shared connection loop (`base`),
and the live book they keep fresh (`book`)."""
