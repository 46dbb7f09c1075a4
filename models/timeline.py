"""timeline models (to be written)."""
