import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("KERARCH_OFFLINE", "1")  # tests never download

import numpy as np  # noqa: E402
import pytest  # noqa: E402

if os.environ["KERAS_BACKEND"] == "tensorflow":
    # Two logical CPU devices, before TensorFlow starts, so MirroredStrategy
    # runs with 2 replicas inside the test process.
    from kerarch.training.distribute import split_cpu  # noqa: E402

    split_cpu(2)


@pytest.fixture
def idx_dataset(tmp_path):
    """A tiny MNIST-format dataset (IDX files): 10 classes, learnable bright-bar patterns."""
    from kerarch.data import write_idx

    folder = tmp_path / "tiny_mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for split, count in (("train", 320), ("t10k", 80)):
        labels = np.arange(count) % 10
        images = rng.integers(0, 40, size=(count, 28, 28)).astype("uint8")
        for i, label in enumerate(labels):
            images[i, 2 * label + 4 : 2 * label + 7, 4:24] = 255
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", labels.astype("uint8"))
    return folder


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Runs in tmp_path, so runs/ and saved_models/ land there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
