"""product models (to be written)."""
