"""The command API's HTTP edge: request models, error mapping, routes."""
