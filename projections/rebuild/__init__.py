"""projections/rebuild."""
