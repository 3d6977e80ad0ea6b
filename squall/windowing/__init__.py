"""Event-time windows: definitions (what a window is), assigner (pure ranges), stats (what a window computes),
manager (watermarks, lateness, idle flush, tuple bookkeeping) and the windowed bolt base (Storm glue)."""
