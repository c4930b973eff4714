"""A sitecustomize for the paper-profile test's subprocesses (see sitecustomize.py)."""
