"""event models (to be written)."""
