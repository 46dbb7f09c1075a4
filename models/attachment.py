"""attachment models (to be written)."""
