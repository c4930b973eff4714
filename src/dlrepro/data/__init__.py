"""Datasets: raw sources (offline registry packages or downloads) and prepared tensors."""

from dlrepro.data.sources import fetch, get_dataset, verify_raw

__all__ = ["fetch", "get_dataset", "verify_raw"]
