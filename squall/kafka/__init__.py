"""The real Kafka side of the reference pipeline: a reliable source (storm-kafka-client's KafkaSpout semantics)
and a publisher. The pure parts (offsets, retry schedule, partition assignment, settings) need no broker."""
