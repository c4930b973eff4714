"""Section 2: the regimes' models, pretrained-weight handling and stage functions, on tiny data."""

import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from dlrepro.config import ParamsError, override, validate
from dlrepro.data.archives import safe_extract
from dlrepro.data.prepare import _select_classes, load_prepared
from dlrepro.data.sources import ImageSplits
from dlrepro.data.tiny_imagenet import load as load_tiny_imagenet
from dlrepro.experiments import s2_cnn_regimes as s2
from dlrepro.models.transfer import build_base, load_base, published_weights
from dlrepro.training import weights as saved_weights
from dlrepro.training.loop import fit, make_optimizer

from .conftest import set_key, smoke_params


def _params():
    return validate(smoke_params())


def test_every_regime_trains_a_step(s2_project):
    params = _params()
    for name in params.s2.regimes:
        s2.train_regime(params, name, dry_run=True)
    assert not (s2_project / "results" / "s2" / "vgg16_scratch").exists()


def test_pretrain_writes_weights_only_checkpoints_with_provenance(s2_project):
    for arch, weights in [("vgg16", "source_task"), ("efficientnet_lite0", "package")]:
        checkpoint = s2.load_pretrained(arch)[0]  # torch.load(weights_only=True) inside
        assert checkpoint["meta"]["weights"] == weights
        assert len(checkpoint["meta"]["norm"]["mean"]) == 3
    meta = json.loads((s2_project / "results" / "s2" / "pretrain" / "vgg16.json").read_text())
    assert [row["seed"] for row in meta["seeds"]] == _params().seeds.of("s2")  # one per seed
    for row in meta["seeds"]:
        assert 0 <= row["source_test_acc"] <= 1 and 0 <= row["source_val_acc"] <= 1
        # how the source task's pretraining ended: best epoch, epochs run, the cap it ran under
        assert 1 <= row["best_epoch"] <= row["epochs"] <= meta["train"]["epochs"]
    assert meta["train"]["epochs"] == _params().s2.pretrain.epochs
    assert "counts" in meta["source"]  # the source images it trained on
    package = json.loads(
        (s2_project / "results" / "s2" / "pretrain" / "efficientnet_lite0.json").read_text()
    )
    assert "seeds" not in package  # published weights: no source task of ours


def test_every_seed_pretrains_its_own_base_and_its_regime_starts_from_it(s2_project):
    params = _params()
    checkpoint, _ = s2.load_pretrained("vgg16")
    first, second = (s2.seed_base(checkpoint, seed)["state_dict"] for seed in (0, 1))
    assert any(not torch.equal(first[key], second[key]) for key in first)
    run = s2.regime_condition(params, "vgg16_finetune", _target_manifest(s2_project))
    for seed in (0, 1):
        base = run.build(seed).base.state_dict()
        own = s2.seed_base(checkpoint, seed)["state_dict"]
        assert all(torch.equal(base[key], own[key]) for key in own)
    # published weights: the one base every seed starts from
    published, _ = s2.load_pretrained("efficientnet_lite0")
    assert s2.seed_base(published, 0) is s2.seed_base(published, 2) is published


def test_a_seed_without_its_own_base_fails_naming_the_stage_to_rerun(s2_project):
    params = override(_params(), {"seeds.s2": 8})  # the smoke profile pretrains seeds 0-2
    with pytest.raises(s2.StaleBaseError, match=r"no base for seed 3.*dvc repro s2_pretrain@vgg16"):
        s2.regime_condition(params, "vgg16_transfer", _target_manifest(s2_project))


def _target_manifest(project) -> dict:
    return load_prepared(project / "data" / "prepared" / "s2" / "target")[1]


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before, module):
    return {k for k, v in module.state_dict().items() if not torch.equal(before[k], v)}


@pytest.mark.parametrize("arch", ["vgg16", "efficientnet_lite0"])
def test_transfer_freezes_the_base_and_finetune_changes_it(s2_project, arch):
    params = _params()
    splits, manifest = load_prepared(s2_project / "data" / "prepared" / "s2" / "target")
    pretrained = s2.seed_base(s2.load_pretrained(arch)[0], 0)
    for freeze in (True, False):
        torch.manual_seed(0)
        model = s2.build_model(params.s2, arch, manifest, pretrained, freeze_base=freeze)
        base, head = _snapshot(model.base), _snapshot(model.head)
        fit(
            model,
            make_optimizer(model, params.s2.train),
            splits["train"],
            splits["val"],
            epochs=1,
            batch_size=16,
            patience=1,
            seed=0,
        )
        assert _changed(head, model.head)
        if freeze:
            # weights and batch-norm running statistics alike
            assert not _changed(base, model.base)
        else:
            assert _changed(base, model.base)


def test_train_regime_writes_accuracies_and_no_timings(s2_project):
    metrics = s2.train_regime(_params(), "vgg16_transfer")
    assert 0 <= metrics["test_acc"]["mean"] <= 1
    assert metrics["trainable_params"]["mean"] > 0
    runs = (s2_project / "results" / "s2" / "vgg16_transfer" / "runs.csv").read_text()
    for timed in s2.TIMED:
        assert timed not in metrics and timed not in runs.splitlines()[0]


def test_timing_times_every_regime_side_by_side(s2_project):
    regimes = smoke_params()["s2"]["regimes"]
    vgg16 = {name: regime for name, regime in regimes.items() if regime["arch"] == "vgg16"}
    plan = {"repeats": 2, "warmup_steps": 1, "steps": 1, "images": 16}
    params = override(_params(), {"s2.regimes": vgg16, "s2.timing": plan})
    s2.time_regimes(params)
    timing = json.loads((s2_project / "results" / "s2" / "timing.json").read_text())
    assert set(timing["regimes"]) == set(vgg16)
    assert timing["steps_per_epoch"] == 2  # 64 training images, batches of 32
    for row in timing["regimes"].values():
        for timed in s2.TIMED:
            assert len(row[timed]["per_repeat"]) == 2 and row[timed]["range"][0] > 0
    ratios = timing["ratios"]
    assert set(ratios) == {
        "vgg16_transfer/vgg16_scratch",
        "vgg16_finetune/vgg16_scratch",
        "vgg16_finetune/vgg16_transfer",
    }
    assert all(r[timed]["median"] > 0 for r in ratios.values() for timed in s2.TIMED)
    assert timing["orders"][1] == timing["orders"][0][1:] + timing["orders"][0][:1]


def test_interleaving_rotates_the_order_every_round():
    names = ["a", "b", "c"]
    orders = [s2.interleaved(names, repeat) for repeat in range(4)]
    assert orders == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]
    assert all(sorted(order) == names for order in orders)


def test_mismatched_pretrained_weights_fail_clearly():
    narrow, _ = build_base("vgg16", 0.125, 32)
    wide, _ = build_base("vgg16", 0.25, 32)
    with pytest.raises(ValueError, match=r"do not fit this network.*s2_pretrain"):
        load_base(narrow, wide.state_dict(), origin="test.pt")


def test_efficientnet_lite0_imagenet_weights_load_offline_and_weights_only(tmp_path):
    state, norm = published_weights("efficientnet_lite0", raw_dir=tmp_path)
    base, features = build_base("efficientnet_lite0", 1.0, 64)
    load_base(base, state, origin="package")
    assert features == 1280 and norm["mean"][0] == pytest.approx(127 / 255)


def test_width_one_is_torchvisions_network():
    from torchvision.models import resnet50, vgg16

    base, _ = build_base("vgg16", 1.0, 64)
    assert [p.shape for p in base[0].parameters()] == [
        p.shape for p in vgg16().features.parameters()
    ]
    base, features = build_base("resnet50", 1.0, 64)
    reference = resnet50()
    assert features == 2048
    assert sum(p.numel() for p in base.parameters()) == sum(
        p.numel() for n, p in reference.named_parameters() if not n.startswith("fc.")
    )


def test_width_narrows_every_resnet_stage_as_it_narrows_every_vgg_conv():
    """At any width the two bases keep the published networks' parameter ratio (ResNet-50's
    base 1.6 times VGG-16's): narrowing only ResNet's bottlenecks (`width_per_group`) made the
    quarter-width ResNet-50 6.4 times the quarter-width VGG-16."""

    def size(arch: str, width: float) -> tuple[int, int]:
        base, features = build_base(arch, width, 32)
        return sum(p.numel() for p in base.parameters()), features

    (vgg, _), (resnet, _) = size("vgg16", 1.0), size("resnet50", 1.0)
    (narrow_vgg, _), (narrow_resnet, features) = size("vgg16", 0.25), size("resnet50", 0.25)
    assert features == 2048 // 4
    assert narrow_resnet / narrow_vgg == pytest.approx(resnet / vgg, rel=0.05)


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("s2.source.classes", [4, 5], "overlap"),
        ("profiles.smoke.s2.archs.vgg16", {"width": 0.5, "weights": "imagenet"}, "published width"),
        ("profiles.smoke.s2.archs.resnet50.weights", "package", "not available"),
        ("profiles.smoke.s2.archs.resnet50.pretrain", {"lr": -1}, r"archs\.resnet50\.pretrain\.lr"),
        ("profiles.smoke.s2.archs.resnet50.pretrain", {"epoch": 3}, "resnet50.pretrain.epoch"),
        ("s2.regimes.bad", {"arch": "vgg16", "init": "scratch", "trainable": "head"}, "random"),
    ],
)
def test_invalid_s2_params_fail_before_training(key, value, message):
    raw = smoke_params()
    set_key(raw, key, value)
    with pytest.raises(ParamsError, match=message):
        validate(raw)


def test_an_arch_pretrains_with_its_own_keys_over_s2_pretrain():
    params = validate(smoke_params())
    resnet, vgg = params.s2.arch_pretrain("resnet50"), params.s2.arch_pretrain("vgg16")
    assert vgg == params.s2.pretrain
    assert (resnet.lr, resnet.patience) == (0.002, 4)
    same = {"lr", "patience"}
    assert resnet.model_dump(exclude=same) == vgg.model_dump(exclude=same)


def test_class_subset_is_relabelled_in_the_given_order():
    splits = ImageSplits(
        train_x=np.arange(6).reshape(6, 1, 1, 1),
        train_y=np.array([0, 1, 2, 0, 1, 2]),
        test_x=np.arange(3).reshape(3, 1, 1, 1),
        test_y=np.array([2, 1, 0]),
        classes=["a", "b", "c"],
    )
    subset = _select_classes(splits, [2, 0])
    assert subset.classes == ["c", "a"]
    assert subset.train_y.tolist() == [1, 0, 1, 0] and subset.test_y.tolist() == [0, 1]
    with pytest.raises(ValueError, match="do not exist"):
        _select_classes(splits, [3])


def test_tiny_imagenet_reader_on_a_small_archive(tmp_path):
    """The paper profile's reader, on an archive laid out like tiny-imagenet-200.zip."""
    wnids = ["n01", "n02"]
    archive = tmp_path / "tiny.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("tiny-imagenet-200/wnids.txt", "\n".join(wnids) + "\n")
        zipped.writestr("tiny-imagenet-200/words.txt", "n01\tgoldfish, fish\nn02\tcat\n")
        rows = []
        for i, wnid in enumerate(wnids):
            for j in range(2):
                image = Image.new("RGB" if j else "L", (64, 64), color=i * 100)
                path = f"tiny-imagenet-200/train/{wnid}/images/{wnid}_{j}.JPEG"
                with zipped.open(path, "w") as handle:
                    image.save(handle, format="JPEG")
            with zipped.open(f"tiny-imagenet-200/val/images/val_{i}.JPEG", "w") as handle:
                Image.new("RGB", (64, 64)).save(handle, format="JPEG")
            rows.append(f"val_{i}.JPEG\t{wnid}\t0\t0\t63\t63")
        zipped.writestr("tiny-imagenet-200/val/val_annotations.txt", "\n".join(rows) + "\n")
    safe_extract(archive, tmp_path / "raw")
    splits = load_tiny_imagenet(tmp_path / "raw")
    assert splits.train_x.shape == (4, 64, 64, 3)  # the greyscale JPEG became RGB
    assert splits.train_y.tolist() == [0, 0, 1, 1] and splits.test_y.tolist() == [0, 1]
    assert splits.classes == ["goldfish", "cat"]


def test_pretraining_again_rewrites_identical_bytes(s2_project):
    """Deterministic weights and no wall time inside: DVC sees the same hash and does not
    re-run the regimes built on the base."""
    path = s2_project / "data" / "prepared" / "s2" / "pretrained" / "vgg16.pt"
    first = path.read_bytes()
    s2.pretrain(_params(), "vgg16")
    assert path.read_bytes() == first


class Killed(Exception):
    pass


def test_a_checkpoint_trained_from_another_base_is_not_resumed(s2_project, monkeypatch, capsys):
    """Killed with seed 0 trained, then the base re-pretrained (its weights times 1.05, its
    metadata unchanged): the re-run trains seed 0 afresh from the new base, as a run that was
    never killed does, instead of resuming the checkpoint of the old one."""
    params = override(_params(), {"compute.seed_processes": 0})  # here, where patches reach

    def killed(*args, **kwargs):
        raise Killed

    with monkeypatch.context() as patched:
        patched.setattr(s2, "evaluate", killed)  # `measure`'s first step, after seed 0 trained
        with pytest.raises(Killed):
            s2.train_regime(params, "vgg16_finetune")
    path = s2.PRETRAINED_DIR / "vgg16.pt"
    bases = torch.load(path, weights_only=True)
    for state in bases["state_dicts"].values():
        for value in state.values():
            if value.is_floating_point():
                value.mul_(1.05)
    saved_weights.save(bases, path)
    capsys.readouterr()
    rerun = s2.train_regime(params, "vgg16_finetune")
    checkpoint = ".dlrepro/checkpoints/s2/vgg16_finetune/seed0.pt"
    assert capsys.readouterr().err.splitlines() == [
        f"warning: discarding {checkpoint}: written by other code, data or params; training "
        "s2/vgg16_finetune/seed0 from scratch"
    ]
    assert s2.train_regime(params, "vgg16_finetune") == rerun  # no checkpoints left: fresh
