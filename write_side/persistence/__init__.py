"""write_side/persistence."""
