"""The relay from the event store's notification log to Kafka: the publisher, its checkpoint
and leadership, and its fail-closed rule for unknown stored types."""
