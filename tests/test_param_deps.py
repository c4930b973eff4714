"""Exact params deps: what the read recorder records, where params.yaml holds a read key, and
that every stage's declared keys exist whichever profile is selected. The comparison of each
stage's declared keys with its recorded reads runs in the smoke pipeline (tests/test_pipeline.py),
where every stage command runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from dlrepro.config import PROFILES
from dlrepro.param_reads import RECORD_ENV

from .conftest import REPO
from .param_deps import declared_params, homes, value_at

READS = """
import json, os, sys
from dlrepro import param_reads
from dlrepro.config import load_params, override

params = param_reads.start(load_params("params.yaml"))
params.s1.train.lr
params.s1.variants["bn"].batch_norm
"moderate_aug" in params.s1.variants
params.s2.model_dump(include={"head", "image_size"})
params.seeds.of("s3")
list(params.s4.encoders)
params.s5.model_copy(update={"vae_train": None}).gan_train.lr
overridden = override(params, {"s1.train.lr": 0.5})
overridden.s1.train.epochs
if os.fork() == 0:  # a seed worker's reads land in the same file
    params.s6.tabular.gamma
    os._exit(0)
os.wait()
"""


def test_the_recorder_writes_each_read_key_of_the_merged_params_once(tmp_path):
    env = {**os.environ, RECORD_ENV: str(tmp_path), "DVC_STAGE": "s9@x"}
    subprocess.run([sys.executable, "-c", READS], cwd=REPO, env=env, check=True)
    lines = (tmp_path / "s9@x.txt").read_text().split()
    assert sorted(lines) == sorted(
        [
            "s1.train.lr",
            "s1.variants.bn.batch_norm",
            "s1.variants.moderate_aug",
            "s2.head",
            "s2.image_size",
            "seeds.s3",
            "s4.encoders",
            "s5.gan_train.lr",
            "s1.train.epochs",
            "s6.tabular.gamma",
        ]
    )


def test_nothing_is_recorded_unless_asked():
    env = {k: v for k, v in os.environ.items() if k != RECORD_ENV}
    script = (
        "from dlrepro import param_reads\n"
        "from dlrepro.config import load_params\n"
        "params = param_reads.start(load_params('params.yaml'))\n"
        "print(type(params.s1.variants).__name__, param_reads._paths)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, check=True, capture_output=True
    )
    assert out.stdout.split() == [b"dict", b"{}"]


RAW = {
    "profile": "smoke",
    "s1": {"train": {"lr": 0.1, "epochs": "per-profile"}, "variants": {"bn": {}}},
    "profiles": {
        "smoke": {"s1": {"train": {"epochs": 2}}},
        "paper": {"s1": {"train": {"epochs": 9}}},
    },
}


def test_a_read_key_is_held_by_the_base_the_selected_profile_or_a_written_ancestor():
    assert homes(RAW, "s1.train.lr") == {"s1.train.lr"}
    assert homes(RAW, "s1.train.epochs") == {"profiles.smoke.s1.train.epochs"}
    # a block both set parts of: a change to either re-runs the reader
    assert homes(RAW, "s1.train") == {"s1.train", "profiles.smoke.s1.train"}
    # a field at its default: whoever writes it writes it into the nearest written block
    assert homes(RAW, "s1.train.momentum") == {"s1.train", "profiles.smoke.s1.train"}
    assert homes(RAW, "s1.variants.bn.dropout") == {"s1.variants.bn"}
    # the whole resolved tree: the base and the selected profile's overlay, not the others
    assert homes(RAW, "") == {"profile", "s1", "profiles.smoke"}


def test_every_declared_key_exists_whichever_profile_is_selected():
    # DVC fails a stage whose declared key is missing, so a key only the selected profile
    # writes would break the pipeline for whoever selects another
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    selected = f"profiles.{raw['profile']}."
    missing = [
        f"{stage}: {key.replace(selected, f'profiles.{profile}.')}"
        for stage, keys in declared_params(REPO).items()
        for key in keys or []
        for profile in PROFILES
        if not value_at(raw, key.replace(selected, f"profiles.{profile}.", 1).split("."))[0]
    ]
    assert not missing, "\n".join(missing)


def _params_changed(tmp_path, edit: tuple[str, str]) -> list[str]:
    """Stages whose declared params an edit of params.yaml changes (`dvc status` on a copy of
    the pipeline files alone: every other dependency reads as missing, params compare as usual)."""
    for name in ("dvc.yaml", "dvc.lock", "params.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    text = (tmp_path / "params.yaml").read_text()
    old, new = edit
    assert text.count(old) == 1, old
    (tmp_path / "params.yaml").write_text(text.replace(old, new))
    dvc = str(Path(sys.executable).parent / "dvc")
    subprocess.run([dvc, "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    out = subprocess.run(
        [dvc, "status", "--json"], cwd=tmp_path, check=True, capture_output=True, text=True
    )
    return sorted(
        stage
        for stage, changes in json.loads(out.stdout).items()
        if any(isinstance(c, dict) and "params.yaml" in c.get("changed deps", {}) for c in changes)
    )


def test_an_epoch_cap_re_runs_only_the_stages_that_train_under_it(tmp_path):
    # the embedded GAN's cap: not the VAEs, the classifier or the colourisers (before exact
    # deps every Section 5 stage declared the whole overlay and re-ran)
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    cap = raw["profiles"][raw["profile"]]["s5"]["gan_train"]["epochs"]
    changed = _params_changed(
        tmp_path, (f"gan_train: {{epochs: {cap},", f"gan_train: {{epochs: {cap + 1},")
    )
    # check_params validates all of params.yaml; the claims read the cap (the GAN's regime)
    assert changed == ["check_params", "claims", "paper_assets", "s5_generate@gan"]
