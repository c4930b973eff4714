"""Golden test: the claims and paper-assets code, re-run on the committed results, rewrites the
committed claims register and paper assets byte for byte (provenance aside: it names the machine
and commit that wrote it). A refactor of either builder must keep this green; an intended change
of their output updates the committed files in the same commit.

The builders also read prepared-data manifests, which DVC caches rather than commits; where they
are missing the test skips, naming the stages that make them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dlrepro import claims, paper_assets
from dlrepro.config import load_params

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = {
    "s1_prepare": "data/prepared/s1/manifest.json",
    "s2_prepare": "data/prepared/s2/target/manifest.json",
    "s3_prepare": "data/prepared/s3/sentiment/manifest.json",
    "s4_prepare": "data/prepared/s4/manifest.json",
    "s5_prepare": "data/prepared/s5/colour/manifest.json",
}
CLAIMS_FILES = ("claims.json", "claims.md", "summary.json")
NOT_COMPARED = {"provenance.md"}


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory) -> Path:
    """The claims stage's and paper_assets' outputs, written to a scratch folder from the
    committed results of the repository (read in place)."""
    missing = [stage for stage, manifest in MANIFESTS.items() if not (REPO / manifest).exists()]
    if missing:
        pytest.skip(f"prepared-data manifests missing: run `dvc repro {' '.join(missing)}`")
    out = tmp_path_factory.mktemp("golden")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO)
        patch.setattr(claims, "OUT", out / "claims")
        patch.setattr(paper_assets, "GENERATED", out / "generated")
        patch.setattr(paper_assets, "VARIABLES", out / "_variables.yml")
        params = load_params(REPO / "params.yaml")
        claims.write(params)
        paper_assets.write_assets(params)
    return out


def test_claims_are_rewritten_byte_for_byte(rebuilt):
    for name in CLAIMS_FILES:
        committed = (REPO / "results" / "claims" / name).read_bytes()
        assert (rebuilt / "claims" / name).read_bytes() == committed, name


def test_paper_assets_are_rewritten_byte_for_byte(rebuilt):
    committed = {
        path.name for path in (REPO / "paper" / "generated").iterdir() if path.is_file()
    } - NOT_COMPARED
    written = {path.name for path in (rebuilt / "generated").iterdir()} - NOT_COMPARED
    assert written == committed
    for name in sorted(committed):
        expected = (REPO / "paper" / "generated" / name).read_bytes()
        assert (rebuilt / "generated" / name).read_bytes() == expected, name
    variables = (REPO / "paper" / "_variables.yml").read_bytes()
    assert (rebuilt / "_variables.yml").read_bytes() == variables
