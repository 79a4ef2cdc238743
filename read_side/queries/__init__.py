"""read_side/queries."""
