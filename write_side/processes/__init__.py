"""Loops that follow the event store and issue commands: order expiry and the payment sweeper."""
