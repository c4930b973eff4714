import http.server
import io
import shutil
import stat
import subprocess
import tarfile
import threading
import time
import zipfile
from functools import partial

import numpy as np
import pytest
import torch
import yaml

from dlrepro.cli import main, needed_datasets
from dlrepro.config import validate
from dlrepro.data import fashion_mnist, get_dataset, imagenet_weights, mnist, sources
from dlrepro.data.archives import (
    DEADLINE_ENV,
    MIRROR_ENV,
    ChecksumError,
    FetchError,
    UnsafeArchiveError,
    debian_package_files,
    download,
    file_checksum,
    safe_extract,
    verify_checksum,
)
from dlrepro.data.prepare import (
    PixelScale,
    TensorSplit,
    channel_statistics,
    load_prepared,
    prepare_images,
    stratified_split,
)
from dlrepro.data.sources import DatasetSpec, ImageSplits, fetch, verify_raw
from dlrepro.models.transfer import published_weights
from dlrepro.training.loop import batches

from .conftest import REPO, write_idx


def test_idx_reader_round_trips(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "x.gz", images)
    np.testing.assert_array_equal(fashion_mnist.read_idx(tmp_path / "x.gz"), images)


def test_idx_reader_rejects_truncated_file(tmp_path):
    write_idx(tmp_path / "x.gz", np.zeros((5, 4, 4), dtype=np.uint8))
    import gzip

    data = gzip.decompress((tmp_path / "x.gz").read_bytes())[:-3]
    (tmp_path / "x.gz").write_bytes(gzip.compress(data))
    with pytest.raises(ValueError, match="header says"):
        fashion_mnist.read_idx(tmp_path / "x.gz")


@pytest.fixture
def tiny_dataset(tmp_path, monkeypatch):
    """A registered dataset whose 'offline' source writes small Fashion-MNIST-format files."""
    rng = np.random.default_rng(0)
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    arrays = {
        "train_x": rng.integers(0, 256, size=(200, 8, 8)),
        "train_y": np.arange(200) % 4,
        "test_x": rng.integers(0, 256, size=(80, 8, 8)),
        "test_y": np.arange(80) % 4,
    }
    for key, name in fashion_mnist.FILES.items():
        write_idx(shipped / name, arrays[key])
    checksums = {name: file_checksum(shipped / name) for name in fashion_mnist.FILES.values()}

    def load(raw):
        splits = fashion_mnist.load(raw)
        return ImageSplits(
            splits.train_x, splits.train_y, splits.test_x, splits.test_y, ["a", "b", "c", "d"]
        )

    spec = DatasetSpec(
        name="tiny",
        licence="CC0",
        homepage="-",
        checksums={"offline": checksums},
        fetchers={"offline": partial(shutil.copytree, shipped)},
        load=load,
    )
    monkeypatch.setitem(sources._LOADED, "tiny", spec)
    return spec


def test_fetch_verifies_and_records_the_source(tmp_path, tiny_dataset):
    raw = tmp_path / "raw"
    fetch("tiny", "offline", raw)
    record = verify_raw(raw, "tiny")
    assert record["source"] == "offline" and record["licence"] == "CC0"
    fetch("tiny", "offline", raw)  # second call: verified no-op


def test_corrupt_raw_file_fails_its_checksum_naming_file_and_fix(tmp_path, tiny_dataset):
    raw = tmp_path / "raw"
    fetch("tiny", "offline", raw)
    victim = raw / "tiny" / "train-labels-idx1-ubyte.gz"
    data = victim.read_bytes()
    victim.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    with pytest.raises(ChecksumError) as error:
        prepare_images(
            "tiny", raw, tmp_path / "prepared", n_train=None, n_test=None, val_fraction=0.2
        )
    assert "train-labels-idx1-ubyte.gz" in str(error.value)
    assert "make data" in str(error.value)
    assert "git checkout data.dvc" in str(error.value)  # what `dvc repro` recorded by then
    assert not (tmp_path / "prepared").exists()
    fetch("tiny", "offline", raw)  # a fetch repairs it
    verify_raw(raw, "tiny")


def test_prepare_writes_normalised_stratified_splits_with_manifest(tmp_path, tiny_dataset):
    raw = tmp_path / "raw"
    fetch("tiny", "offline", raw)
    manifest = prepare_images(
        "tiny", raw, tmp_path / "out", n_train=100, n_test=40, val_fraction=0.2
    )
    assert manifest["counts"] == {"train": 80, "val": 20, "test": 40}
    assert manifest["licence"] == "CC0" and manifest["source"] == "offline"
    splits, _ = load_prepared(tmp_path / "out")
    assert splits["train"].x.shape == (80, 1, 8, 8) and splits["train"].x.dtype == torch.uint8
    assert abs(float(splits["train"].decoded().x.mean())) < 1e-4
    assert np.bincount(splits["val"].y.numpy()).tolist() == [5, 5, 5, 5]


def _old_prepare_inputs(split: np.ndarray, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """What prepare_images wrote before pixels were stored as uint8: the split standardised in
    float32 numpy arrays, channels first."""
    scaled = (split.astype(np.float32) / 255.0 - mean) / std
    return torch.from_numpy(np.ascontiguousarray(scaled.transpose(0, 3, 1, 2)))


@pytest.mark.parametrize("channels", [1, 3])
def test_stored_pixels_give_the_bytes_the_float_prepare_wrote(tmp_path, channels):
    """uint8 storage changes no input: every batch equals the old float32 tensors bit for bit.
    The statistics are too for one channel (every embedded set); for three, numpy summed each
    channel in a float32 running sum, a few ulps off here (and far off at CIFAR-10's size)."""
    rng = np.random.default_rng(channels)
    x = rng.integers(0, 256, size=(300, 12, 12, channels), dtype=np.uint8)
    y = np.arange(300) % 3
    splits = ImageSplits(x[:200], y[:200], x[200:], y[200:], list("abc"))
    sources.register(
        DatasetSpec(f"pixels{channels}", "test", "", {"offline": {}}, {}, lambda raw: splits)
    )
    raw = tmp_path / "raw" / f"pixels{channels}"
    raw.mkdir(parents=True)
    (raw / "SOURCE.json").write_text(
        '{"source": "offline", "licence": "test", "homepage": "", "files": {}}'
    )
    prepare_images(f"pixels{channels}", tmp_path / "raw", tmp_path / "out", n_train=None,
                   n_test=None, val_fraction=0.25)  # fmt: skip
    splits, _ = load_prepared(tmp_path / "out")
    fit_idx, val_idx = stratified_split(y[:200], 0.25)
    train, val = x[:200][fit_idx], x[:200][val_idx]
    old_train = train.astype(np.float32) / 255.0
    old_mean, old_std = old_train.mean(axis=(0, 1, 2)), old_train.std(axis=(0, 1, 2))
    mean, std = splits["train"].scale.mean.numpy(), splits["train"].scale.std.numpy()
    exact = old_train.astype(np.float64)
    np.testing.assert_allclose(mean, exact.mean(axis=(0, 1, 2)), rtol=1e-7)
    np.testing.assert_allclose(std, exact.std(axis=(0, 1, 2)), rtol=1e-7)
    if channels == 1:
        assert np.array_equal(mean, old_mean) and np.array_equal(std, old_std)
    for split, images in {"train": train, "val": val, "test": x[200:]}.items():
        assert torch.equal(splits[split].decoded().x, _old_prepare_inputs(images, mean, std))
    batch, _ = next(batches(splits["val"], 16))
    assert torch.equal(batch, _old_prepare_inputs(val[:16], mean, std))


def test_channel_statistics_are_exact_where_a_float32_sum_stalls():
    """46M pixels per channel (CIFAR-10's training set): a float32 running sum stops growing at
    2**24, numpy's mean of these would read 0.36. Counting pixel values does not."""
    pixels = np.broadcast_to(np.array([0, 255], np.uint8), (45_000, 3, 32, 16, 2))
    mean, std = channel_statistics(pixels.reshape(45_000, 3, 32, 32))
    assert mean.tolist() == [0.5] * 3 and std.tolist() == [0.5] * 3


def test_pixel_scale_normalises_on_the_pixels_device_with_true_division():
    scale = PixelScale(torch.tensor([0.25, 0.5]), torch.tensor([0.3, 0.2]))
    pixels = torch.arange(256, dtype=torch.uint8).repeat(2, 1).view(1, 2, 16, 16)
    expected = (pixels.numpy().astype(np.float32) / 255.0 - np.float32([[[0.25]], [[0.5]]])) / (
        np.float32([[[0.3]], [[0.2]]])
    )
    assert torch.equal(scale(pixels), torch.from_numpy(expected))
    if torch.cuda.is_available():  # CUDA turns `/ 255.0` into a multiplication by 1/255
        assert torch.equal(scale.to("cuda")(pixels.cuda()).cpu(), torch.from_numpy(expected))
    with pytest.raises(ValueError, match="PixelScale"):
        TensorSplit(pixels, torch.zeros(1))


def test_corrupt_prepared_file_is_detected(tmp_path, tiny_dataset):
    raw = tmp_path / "raw"
    fetch("tiny", "offline", raw)
    prepare_images("tiny", raw, tmp_path / "out", n_train=None, n_test=None, val_fraction=0.2)
    (tmp_path / "out" / "val.pt").write_bytes(b"garbage")
    with pytest.raises(ChecksumError, match=r"val\.pt.*dvc repro"):
        load_prepared(tmp_path / "out")


def test_dataset_without_offline_source_says_what_to_do(tmp_path):
    with pytest.raises(FetchError, match=r"data\.source: download"):
        fetch("cifar10", "offline", tmp_path)


def _tar_with(path, name, payload=b"x"):
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))


@pytest.mark.parametrize("member", ["../escape.txt", "a/../../escape.txt"])
def test_tar_members_escaping_the_folder_are_refused(tmp_path, member):
    _tar_with(tmp_path / "evil.tar.gz", member)
    with pytest.raises(UnsafeArchiveError, match="refused"):
        safe_extract(tmp_path / "evil.tar.gz", tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_absolute_tar_member_lands_inside_the_folder(tmp_path):
    _tar_with(tmp_path / "abs.tar.gz", "/dlrepro-abs-test/escape.txt")
    safe_extract(tmp_path / "abs.tar.gz", tmp_path / "out")
    assert (tmp_path / "out" / "dlrepro-abs-test" / "escape.txt").exists()


def test_zip_members_escaping_the_folder_are_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zipped:
        zipped.writestr("../escape.txt", "x")
    with pytest.raises(UnsafeArchiveError, match=r"escape\.txt"):
        safe_extract(tmp_path / "evil.zip", tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def _zip_with_a_link(path):
    with zipfile.ZipFile(path, "w") as zipped:
        zipped.writestr("images/a.JPEG", "x")
        link = zipfile.ZipInfo("images/b.JPEG")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zipped.writestr(link, "/etc/passwd")


def test_zip_members_that_are_links_are_refused(tmp_path):
    """zipfile would write the link as a file holding the path /etc/passwd, for a loader to
    read as an image."""
    _zip_with_a_link(tmp_path / "linked.zip")
    with pytest.raises(UnsafeArchiveError, match=r"'images/b.JPEG', a symbolic link"):
        safe_extract(tmp_path / "linked.zip", tmp_path / "out")
    assert not (tmp_path / "out" / "images").exists()


def _offline_source(monkeypatch, name: str, fetcher) -> None:
    """Register dataset `name`, whose offline source (the smoke profile's) is `fetcher`."""
    spec = DatasetSpec(name, "CC0", "-", {"offline": {}}, {"offline": fetcher}, load=None)
    monkeypatch.setitem(sources._LOADED, name, spec)


def test_fetching_an_archive_that_holds_a_link_fails_in_one_line(
    project, mirror, monkeypatch, capsys
):
    url = "https://example.invalid/linked.zip"
    _zip_with_a_link(mirror(url))
    expected = file_checksum(mirror(url))  # the archive arrives as published: its members are not
    _offline_source(
        monkeypatch,
        "linked",
        lambda dest: safe_extract(download(url, dest / "linked.zip", expected), dest),
    )
    assert main(["fetch", "--dataset", "linked"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ")
    assert line.endswith(
        "refused member 'images/b.JPEG', a symbolic link; no published archive "
        "holds one, so this one is not what was published"
    )
    assert not (project / "data" / "raw" / "linked").exists()


class Trickle(http.server.BaseHTTPRequestHandler):
    """Announces TRICKLED bytes and sends one every TRICKLE_S seconds: a stalled server that
    never lets the socket time out."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(TRICKLED))
        self.end_headers()
        for _ in range(TRICKLED):
            time.sleep(TRICKLE_S)
            try:
                self.wfile.write(b"x")
                self.wfile.flush()
            except OSError:  # the client gave up
                return

    def log_message(self, *args):
        pass


TRICKLED, TRICKLE_S = 40, 0.25


def test_a_download_that_trickles_stops_at_its_deadline_in_one_line(project, monkeypatch, capsys):
    """Ten seconds of a byte every quarter second against a deadline of one: without one,
    `dlrepro fetch` waits as long as the server trickles (a byte every 20 s never ends)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv(MIRROR_ENV, f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv(DEADLINE_ENV, "1")
    url = "https://example.invalid/trickled.bin"
    _offline_source(
        monkeypatch, "trickled", lambda dest: download(url, dest / "trickled.bin", "sha256:0")
    )
    started = time.monotonic()
    try:
        assert main(["fetch", "--dataset", "trickled"]) == 2
    finally:
        server.shutdown()
    assert time.monotonic() - started < 1 + 3 * TRICKLE_S
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: could not download trickled.bin from http://127.0.0.1:")
    assert "(not complete after 1 s; $DLREPRO_DOWNLOAD_DEADLINE sets that limit)" in line


def test_safe_archives_extract(tmp_path):
    _tar_with(tmp_path / "ok.tar.gz", "folder/file.txt", b"hello")
    safe_extract(tmp_path / "ok.tar.gz", tmp_path / "out")
    assert (tmp_path / "out" / "folder" / "file.txt").read_bytes() == b"hello"


@pytest.fixture
def http_root(tmp_path):
    """A loopback HTTP server over a folder, for the download source."""
    root = tmp_path / "site"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_download_verifies_checksum(tmp_path, http_root):
    root, url = http_root
    (root / "data.bin").write_bytes(b"payload")
    expected = file_checksum(root / "data.bin")
    assert (
        download(url + "data.bin", tmp_path / "got" / "data.bin", expected).read_bytes()
        == b"payload"
    )


def test_damaged_download_is_refused_and_leaves_nothing(tmp_path, http_root):
    root, url = http_root
    (root / "data.bin").write_bytes(b"payload")
    with pytest.raises(ChecksumError, match="damaged"):
        download(url + "data.bin", tmp_path / "data.bin", "sha256:" + "0" * 64)
    assert not (tmp_path / "data.bin").exists()


def test_a_digest_prefix_must_have_eight_hex_digits(tmp_path):
    (tmp_path / "data.bin").write_bytes(b"payload")
    digest = file_checksum(tmp_path / "data.bin")
    verify_checksum(tmp_path / "data.bin", digest[: len("sha256:") + 8])
    with pytest.raises(ChecksumError, match="does not match"):
        verify_checksum(tmp_path / "data.bin", digest[: len("sha256:") + 7])


def test_unreachable_host_points_to_offline_profiles(tmp_path, http_root):
    _, url = http_root
    with pytest.raises(FetchError, match="offline profiles"):
        download(url + "missing.bin", tmp_path / "x", "sha256:" + "0" * 64)


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_debian_source_extracts_files_from_a_package(tmp_path, monkeypatch):
    tree = tmp_path / "pkg"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        "Package: fake-data\nVersion: 1\nArchitecture: all\nMaintainer: t <t@t>\n"
        "Description: test\n"
    )
    (tree / "usr/share/datasets/fake").mkdir(parents=True)
    (tree / "usr/share/datasets/fake/a.gz").write_bytes(b"A")
    subprocess.run(
        ["dpkg-deb", "--build", str(tree), str(tmp_path / "fake.deb")],
        check=True,
        capture_output=True,
    )

    def fake_apt_download(package, work):
        shutil.copy(tmp_path / "fake.deb", work / "fake-data_1_all.deb")
        return subprocess.CompletedProcess([], 0, "", "")

    monkeypatch.setattr("dlrepro.data.archives._apt_download", fake_apt_download)
    debian_package_files("fake-data", ["usr/share/datasets/fake/a.gz"], tmp_path / "out")
    assert (tmp_path / "out" / "a.gz").read_bytes() == b"A"


def test_mnist_falls_back_to_torchvisions_second_mirror(tmp_path, mirror, monkeypatch):
    second = mnist.MNIST.mirrors[1]  # the first mirror has nothing
    for index, name in enumerate(mnist.IDX_FILES.values()):
        write_idx(mirror(second + name), np.full((2, 3, 3), index))
        monkeypatch.setitem(mnist.DOWNLOAD_CHECKSUMS, name, file_checksum(mirror(second + name)))
    fetch("mnist", "download", tmp_path / "raw")
    assert mnist.load(tmp_path / "raw" / "mnist").test_x.shape == (2, 3, 3, 1)


def test_failed_fetch_names_every_mirror_and_leaves_nothing_in_data_raw(tmp_path, mirror):
    raw = tmp_path / "raw"
    with pytest.raises(FetchError, match=r"cifar-10.*mirror/www\.cs\.toronto\.edu.*DLREPRO_MIRROR"):
        fetch("cifar10", "download", raw)
    assert list(raw.iterdir()) == []


def test_imagenet_weights_are_fetched_ahead_and_only_read_from_data_raw(
    tmp_path, mirror, monkeypatch
):
    raw = tmp_path / "raw"
    with pytest.raises(ChecksumError, match=r"vgg16_imagenet was never fetched.*dlrepro fetch"):
        published_weights("vgg16", raw)
    # A small stand-in for torchvision's file, checked as torchvision's is: by the first 8 hex
    # digits of its sha256.
    weights = imagenet_weights.WEIGHTS["vgg16"]
    served = mirror(weights.url)
    conv, head = torch.randn(2, 3, 3, 3), torch.randn(4, 2)
    torch.save({"features.0.weight": conv, "classifier.0.weight": head}, served)
    checksums = get_dataset("vgg16_imagenet").checksums["download"]
    name = imagenet_weights.file_name(weights)
    assert checksums == {name: "sha256:397923af"}
    monkeypatch.setitem(checksums, name, file_checksum(served)[: len("sha256:") + 8])
    fetch("vgg16_imagenet", "download", raw)
    state, _ = published_weights("vgg16", raw)
    assert (raw / "vgg16_imagenet" / name).exists()
    assert list(state) == ["0.0.weight"] and torch.equal(state["0.0.weight"], conv)


def test_fetch_takes_what_the_profile_uses():
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    paper = needed_datasets(validate({**raw, "profile": "paper"}))
    assert {"vgg16_imagenet", "resnet50_imagenet"} <= set(paper)
    assert "fashion_mnist" not in paper  # no arch pretrains on Section 2's source task
    embedded = needed_datasets(validate({**raw, "profile": "embedded"}))
    assert "fashion_mnist" in embedded and not any("imagenet" in name for name in embedded)


@pytest.mark.parametrize("garbage", ["{not json", "[1, 2]", '{"licence": "x"}'])
def test_a_garbage_source_record_fails_in_one_line_naming_the_fix(tmp_path, garbage):
    from dlrepro.data.sources import SOURCE_FILE, verify_raw

    (tmp_path / "airline").mkdir()
    (tmp_path / "airline" / SOURCE_FILE).write_text(garbage)
    expected = r"SOURCE.json is not a source record .*re-fetch it with `make data`"
    with pytest.raises(ChecksumError, match=expected):
        verify_raw(tmp_path, "airline")
