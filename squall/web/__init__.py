"""The web dashboard: Storm UI's pages for the cluster (served by the :8080 REST server) and for a local run
(`squall run --ui`), from the same JSON, with the topology's graph, live figures, charts and actions."""
