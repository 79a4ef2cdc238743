"""projections/models."""
