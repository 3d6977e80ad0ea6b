"""squall: Storm-style topologies in pure Python for IoT event processing."""

__version__ = "0.1.0"
