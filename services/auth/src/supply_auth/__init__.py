"""Supply Store auth."""
