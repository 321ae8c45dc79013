import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("KERARCH_OFFLINE", "1")  # tests never download

import pytest  # noqa: E402

if os.environ["KERAS_BACKEND"] == "tensorflow":
    # Two logical CPU devices, before TensorFlow starts, so MirroredStrategy
    # runs with 2 replicas inside the test process.
    from kerarch.training.distribute import split_cpu  # noqa: E402

    split_cpu(2)


@pytest.fixture(autouse=True)
def working_directory_is_kept():
    """Fails a test that leaves the working directory changed (use `workdir` or `monkeypatch.chdir`)."""
    before = os.getcwd()
    yield
    after = os.getcwd()
    if after != before:
        os.chdir(before)
        pytest.fail(f"The test left the working directory changed: {before} -> {after}")


@pytest.fixture
def idx_dataset(tmp_path):
    """A tiny MNIST-format dataset (IDX files): 10 classes, learnable bright-bar patterns."""
    from tiny_data import write_tiny_mnist

    return write_tiny_mnist(tmp_path / "tiny_mnist")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Runs in tmp_path, so runs/ and saved_models/ land there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
