"""Supply Store mongo-projector."""
