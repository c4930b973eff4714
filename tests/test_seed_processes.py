"""Seeds trained side by side in forked processes give what one after another gives."""

import pandas as pd
import pytest
import torch

from dlrepro.config import ComputeConfig, validate
from dlrepro.experiments import s1_network_training as s1
from dlrepro.training import compute
from dlrepro.training.loop import NonFiniteLossError

from .conftest import smoke_params

pytestmark = pytest.mark.usefixtures("restore_compute")


def _runs(project, seed_processes) -> tuple[pd.DataFrame, pd.DataFrame]:
    raw = smoke_params()
    raw["compute"] |= {"seed_processes": seed_processes}
    s1.train_variant(validate(raw), "dropout")
    out = project / "results" / "s1" / "dropout"
    return pd.read_csv(out / "runs.csv"), pd.read_csv(out / "history_seeds.csv")


def test_seeds_side_by_side_match_seeds_one_after_another(project):
    one_by_one = _runs(project, 1)
    side_by_side = _runs(project, 3)
    in_process = _runs(project, 0)
    assert list(one_by_one[0]["seed"]) == [0, 1, 2]
    for other in (side_by_side, in_process):
        pd.testing.assert_frame_equal(other[0], one_by_one[0])
        pd.testing.assert_frame_equal(other[1], one_by_one[1])


def test_a_seed_that_fails_in_its_worker_fails_the_stage_with_its_message(project):
    raw = smoke_params(train={**smoke_params()["s1"]["train"], "lr": 1e12})
    raw["compute"]["seed_processes"] = 3
    with pytest.raises(NonFiniteLossError, match="No metrics were written"):
        s1.train_variant(validate(raw), "baseline")


def test_seed_workers_do_not_depend_on_the_core_count():
    for cores in (2, 8):
        torch.set_num_threads(cores)
        compute.configure(ComputeConfig(threads=None), torch.device("cpu"))
        assert compute.seed_processes(3) == 3
        assert compute.seed_processes(1) == 1
    compute.configure(ComputeConfig(seed_processes=2), torch.device("cpu"))
    assert compute.seed_processes(3) == 2
    assert torch.get_num_threads() == 2  # the contract's thread count, not the machine's


def test_seed_processes_on_a_gpu_fail_before_training():
    with pytest.raises(ValueError, match="CUDA does not survive"):
        compute.configure(ComputeConfig(seed_processes=3), torch.device("cuda"))
