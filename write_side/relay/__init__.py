"""write_side/relay."""
