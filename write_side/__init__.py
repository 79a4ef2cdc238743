"""The write side: domain aggregates, application services, the relay and the command API."""
