"""Monthly international airline passengers, 1949-1960 (Box & Jenkins series G), 144 values.

The series is small enough that its canonical registry copy is complete: `pmdarima` ships it as a
literal array in `pmdarima/datasets/airpassengers.py`. Both sources take that file out of the
pmdarima wheel from PyPI (the package is never installed: its scientific stack is not needed)
and read the array with `ast.literal_eval`, so no package code runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from dlrepro.data.archives import pypi_package_files
from dlrepro.data.sources import DatasetSpec

REQUIREMENT = "pmdarima==2.1.1"
MEMBER = "pmdarima/datasets/airpassengers.py"
FILE = "airpassengers.py"
CHECKSUMS = {FILE: "sha256:aa23fc2e585598773f82bc9165c614d8b2e9eddbec5ad58ff6e85bae663b95ea"}
FIRST_MONTH = "1949-01"
N_MONTHS = 144


def load(raw: Path) -> np.ndarray:
    """The 144 monthly totals (thousands of passengers) as float64, January 1949 first."""
    tree = ast.parse((raw / FILE).read_text())
    # `rslt = np.array([...]).astype(dtype)`: the one list literal on that line.
    arrays = [
        inner
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "rslt" for t in node.targets)
        for inner in ast.walk(node.value)
        if isinstance(inner, ast.List)
    ]
    if len(arrays) != 1:
        raise ValueError(f"{raw / FILE}: expected one `rslt = np.array([...])` assignment")
    series = np.asarray(ast.literal_eval(arrays[0]), dtype=np.float64)
    if series.shape != (N_MONTHS,):
        raise ValueError(f"{raw / FILE}: {series.shape[0]} values, expected {N_MONTHS}")
    return series


def fetch(dest: Path) -> None:
    pypi_package_files(REQUIREMENT, {MEMBER: FILE}, dest)


SPEC = DatasetSpec(
    name="airline",
    licence="public domain data (Box & Jenkins 1976); pmdarima is MIT",
    homepage="https://alkaline-ml.com/pmdarima/modules/generated/pmdarima.datasets.load_airpassengers.html",
    checksums={"offline": CHECKSUMS, "download": CHECKSUMS},
    fetchers={"offline": fetch, "download": fetch},
    load=load,
)
