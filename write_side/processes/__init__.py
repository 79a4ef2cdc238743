"""write_side/processes."""
