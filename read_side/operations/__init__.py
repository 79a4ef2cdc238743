"""read_side/operations."""
