"""The payment gateway: its port and the in-process fake, the circuit breaker in front of it,
the HTTP adapter, and the development gateway service."""
