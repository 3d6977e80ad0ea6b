"""`make bench`: run every benchmark that needs no external service, in one process run, one after another."""

import importlib
import sys

# Benchmarks that need the real services (Kafka, Cassandra, Storm) run only when named: python -m bench.<name>
DEFAULT = ["passthrough", "pipeline"]

for name in sys.argv[1:] or DEFAULT:
    print(f"== bench.{name}", flush=True)
    importlib.import_module(f"bench.{name}").main()
