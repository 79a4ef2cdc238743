"""The use cases: one method per command on `Shop` (shop.py), over the aggregates of
`write_side.domain`; idempotency, retries and tokens in base.py."""
