"""The RabbitMQ bridge (pika): topology, outbox relay with publisher confirms, inbound
consumers, subscription delivery; and the in-process bus for embedded mode. Filled by the
trust inbound and outbound issues; the outbox it relays is written by `register.service`."""
