"""write_side/gateway."""
