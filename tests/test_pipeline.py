"""End to end: a copy of the repository runs `dvc repro` on the smoke profile, data to paper,
then an ablation with `dvc exp run -S`. Every stage command records the params keys it reads
(`dlrepro.param_reads`), and each stage's declared params must be exactly those.

Slow (about 8 minutes, run by `.ci/run` and `make test-slow`): the smoke profile trains for
seconds, but each of its 65 stages pays about 6.5 s to start (Python, torch and, at the first
optimizer step, torch._dynamo; DVC re-reading and rewriting dvc.lock around each stage)."""

import json

import pytest

from .conftest import copy_repo_on_smoke, needs_raw_data, repo_commands
from .param_deps import mismatches


@pytest.mark.slow
@needs_raw_data
def test_smoke_profile_reproduces_every_section_through_the_paper(tmp_path):
    repo = copy_repo_on_smoke(tmp_path / "repo")
    reads = tmp_path / "param_reads"
    run = repo_commands(repo, DLREPRO_RECORD_PARAM_READS=str(reads))

    run("git", "init", "-q")
    run("dvc", "repro", "--force")  # every stage, whatever the copied dvc.lock says
    # exact params deps: no stage reads a key it does not declare (a change to it would leave
    # a stale result) or declares one that none of its kind reads (a change would re-run it
    # for nothing)
    problems = mismatches(repo, reads)
    assert not problems, "dvc.yaml's params deps differ from the reads:\n" + "\n".join(problems)
    metrics = json.loads((repo / "results/s1/baseline/metrics.json").read_text())
    assert metrics["n_seeds"] == 3 and 0 <= metrics["best_val_acc"]["mean"] <= 1
    assert (repo / "paper/figures/s1/lr_sweep.png").stat().st_size > 0
    assert "Baseline" in (repo / "paper/generated/s1_table1.md").read_text()
    assert (repo / "paper/figures/s6/dqn_policies.png").stat().st_size > 0
    assert "SB3" in (repo / "paper/generated/s6_table.md").read_text()
    assert (repo / "paper/figures/s3/bleu_temperature.png").stat().st_size > 0
    assert "Probe 1" in (repo / "paper/generated/s3_table3.md").read_text()
    samples = (repo / "results/s3/textgen_char/samples.csv").read_text()
    assert samples.startswith("seed,temperature,sample,prompt,text,bleu_words,bleu_chars")
    assert "CNN autoencoder" in (repo / "paper/generated/s4_table4.md").read_text()
    assert (repo / "paper/figures/s4/denoise_ms_ssim/denoising.png").stat().st_size > 0
    assert "Real test digits" in (repo / "paper/generated/s5_table6.md").read_text()
    assert (repo / "paper/figures/s5/colourise_cgan/colourised.png").stat().st_size > 0
    assert (repo / "models/s5/digit_classifier.pt").stat().st_size > 0
    summary = json.loads((repo / "results/claims/summary.json").read_text())
    claims = json.loads((repo / "results/claims/claims.json").read_text())
    counted = sum(summary["all"].values()) + sum(summary["additions"]["all"].values())
    assert counted == len(claims) > 40
    assert "paper is complete" in run("dlrepro", "paper-check")
    rendered = repo / "paper/_render"  # stage `paper`: pandoc + Typst here (no Quarto)
    assert "Real test digits" in (rendered / "index.html").read_text()
    assert (rendered / "index.pdf").read_bytes().startswith(b"%PDF")
    assert "up to date" in run("dvc", "repro")  # a second repro has nothing to do

    # An ablation re-runs only the stages whose params it touches and shows in `dvc exp show`
    # (a cheap one: Section 3.1's learning rate, which the smoke overlay leaves at its base).
    run("git", "add", "-A")
    run("git", "commit", "-qm", "smoke run")
    log = run("dvc", "exp", "run", "-S", "s3.airline.train.lr=0.02", "-n", "airline-lr")
    assert "Running stage 's3_airline'" in log
    assert "Stage 's3_prepare' didn't change" in log
    assert "Running stage 's1_train" not in log
    table = run("dvc", "exp", "show", "--csv")
    assert "airline-lr" in table and "0.02" in table
