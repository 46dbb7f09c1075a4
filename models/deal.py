"""deal models (to be written)."""
