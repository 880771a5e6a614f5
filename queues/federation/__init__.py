"""Regional registers linked over RabbitMQ federation (docs/federation.md)."""
