"""Building and running the containers (compose.yaml) on a machine without a registry."""
