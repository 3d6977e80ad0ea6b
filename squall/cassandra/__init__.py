"""The real Cassandra side of the reference pipeline: schema (infra/cql/schema.cql), `squall db init`, and the
Store that persist writes through (prepared statements, bounded async, idempotent upserts)."""
