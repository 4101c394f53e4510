"""One module per section of the reference."""
