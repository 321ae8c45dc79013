"""The image data loaders: CIFAR-10's python batches (read safely), data_dir and the Keras cache."""

import os
import pickle

import numpy as np
import pytest

from kerarch.data.cifar import load_cifar10, read_cifar10_folder, write_cifar10_batch
from kerarch.errors import KerarchError
from tiny_data import write_tiny_cifar10


def test_cifar_batch_round_trip_keeps_channel_planes(tmp_path):
    images = np.zeros((2, 32, 32, 3), np.uint8)
    images[0, 0, 1] = (10, 20, 30)
    images[1, 31, 0, 2] = 255
    write_cifar10_batch(tmp_path / "b", images, [3, 7])
    with open(tmp_path / "b", "rb") as f:
        raw = pickle.load(f, encoding="bytes")
    assert raw[b"data"][0, [1, 1024 + 1, 2048 + 1]].tolist() == [10, 20, 30]  # R, G, B planes, row-major
    folder = write_tiny_cifar10(tmp_path / "cifar")
    x_train, y_train, x_test, y_test = read_cifar10_folder(folder)
    assert x_train.shape == (5 * 24, 32, 32, 3) and x_test.shape == (40, 32, 32, 3)
    assert y_train.dtype == np.int64 and set(y_test) == set(range(10))


def test_cifar_data_dir_accepts_the_parent_folder(tmp_path):
    write_tiny_cifar10(tmp_path / "cifar-10-batches-py")
    data = load_cifar10(tmp_path)
    assert data.source.startswith("data_dir") and data.class_names[0] == "airplane"


def test_cifar_missing_and_incomplete_folders(tmp_path):
    with pytest.raises(KerarchError, match="not an existing folder"):
        load_cifar10(tmp_path / "nope")
    folder = write_tiny_cifar10(tmp_path / "cifar")
    (folder / "test_batch").unlink()
    with pytest.raises(KerarchError, match="lacks test_batch"):
        load_cifar10(folder)


def test_cifar_corrupt_and_planted_batches(tmp_path):
    folder = write_tiny_cifar10(tmp_path / "cifar")
    (folder / "data_batch_3").write_bytes(b"\x80\x02garbage")
    with pytest.raises(KerarchError, match="data_batch_3 is not a readable CIFAR-10 batch"):
        load_cifar10(folder)

    class Planted:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    (folder / "data_batch_3").write_bytes(pickle.dumps(Planted(), protocol=2))
    with pytest.raises(KerarchError, match="refusing to load"):
        load_cifar10(folder)
    assert not (tmp_path / "pwned").exists()


def test_cifar_found_in_the_keras_cache_or_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", os.fspath(tmp_path / "keras"))
    monkeypatch.setenv("TFDS_DATA_DIR", os.fspath(tmp_path / "tfds"))
    monkeypatch.setenv("KERARCH_OFFLINE", "1")
    with pytest.raises(KerarchError) as error:
        load_cifar10()
    message = str(error.value)
    assert "cifar-10-python.tar.gz" in message and "data_dir=" in message and "KERARCH_OFFLINE" in message
    write_tiny_cifar10(tmp_path / "keras" / "datasets" / "cifar-10-batches-py")
    assert load_cifar10().source.startswith("Keras cache")
