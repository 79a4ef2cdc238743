"""projections/live."""
