"""Model definitions, one module per family."""
