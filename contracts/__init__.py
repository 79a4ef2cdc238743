"""What the write side, projections and read side agree on, and nothing else.

Event payload schemas, the Kafka envelope, topic names, upcasters, read-model row
shapes and the API error shape. This package imports none of ours.
"""
