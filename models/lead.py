"""lead models (to be written)."""
