"""The register core: Section 117 domain model, rules engine, service and store.

Nothing in this package imports Flask, pika or any other edge; the edges
(`adapter/`, `queues/`) import it.
"""
