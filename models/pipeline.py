"""pipeline models (to be written)."""
