"""Real ZooKeeper, Kafka, Cassandra and Storm on loopback, assembled from Maven Central, no docker.

One module per concept: `layout` (where things live), `maven` and `apt` (installing), `render` (config files),
`services` (what each service is and how it starts), `process` (pid files, start, stop), `health` (is it really
answering), `storm_home` (the STORM_HOME folder tree), and `api` (what tests, the CLI and other code call).
"""
