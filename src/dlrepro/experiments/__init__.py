"""One module per section of the report; each is a thin CLI over the shared layers."""
