"""Training loops and their helpers, shared by every section."""
