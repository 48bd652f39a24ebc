"""Supply Store gateway."""
