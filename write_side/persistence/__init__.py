"""The event store: its settings, our recorder (idempotency keys in the events' transaction),
the mapping of domain events to contracts, migrations, and outage handling."""
