"""Pure domain model: aggregates and their past-tense events. No pydantic, Kafka or SQL."""
