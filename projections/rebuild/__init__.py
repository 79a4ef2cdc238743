"""Rebuild and verify: a read model folded from the event store into a shadow (or scratch)
schema, caught up through the live applier, swapped in or compared."""
