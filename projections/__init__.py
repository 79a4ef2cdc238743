"""Projectors: Kafka consumers that build denormalized read models in PostgreSQL."""
