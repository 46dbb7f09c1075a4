"""order models (to be written)."""
