"""Operating a topology: Prometheus export of its figures (`prometheus`) and parallelism proposals (`tune`)."""
