"""The reference IoT pipeline's framework side: event contract, rules, stores. Components live in spouts/ and bolts/."""
