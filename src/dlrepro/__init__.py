"""dlrepro: a reproducible re-run of a deep-learning study, from data to paper."""

__version__ = "0.1.0"
