"""write_side/application."""
