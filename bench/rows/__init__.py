"""One module per row of the table."""
