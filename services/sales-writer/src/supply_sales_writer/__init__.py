"""Supply Store sales-writer."""
