"""Tiny datasets the tests write themselves, and a runner for each module's tiny recipe runs."""

import contextlib

import numpy as np
import pytest

from kerarch.data import write_idx
from kerarch.frame import run_recipe


@contextlib.contextmanager
def tiny_recipe_runs(workdir, tiny, *, data_dir=None, data_dirs=None):
    """Runs each recipe of `tiny` ({name: [overrides]}) once with `workdir` as the working folder.

    Yields {name: summary} while still inside `workdir` (the summaries hold relative paths).
    A recipe gets `data_dir=` from `data_dirs[name]`, else `data_dir`, else none.
    """
    data_dirs = data_dirs or {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        summaries = {}
        for name, args in tiny.items():
            folder = data_dirs.get(name, data_dir)
            summaries[name] = run_recipe(name, [*([f"data_dir={folder}"] if folder else []), "verbose=none", *args])
        yield summaries


def write_tiny_mnist(folder, *, train=320, test=80):
    """Writes the 4 IDX files: 10 classes of learnable bright bars on noise."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, count in (("train", train), ("t10k", test)):
        labels = np.arange(count) % 10
        images = rng.integers(0, 40, size=(count, 28, 28)).astype("uint8")
        for i, label in enumerate(labels):
            images[i, 2 * label + 4 : 2 * label + 7, 4:24] = 255
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", labels.astype("uint8"))
    return folder


def write_tiny_cifar10(folder, *, per_batch=24, test=40):
    """Writes a `cifar-10-batches-py` folder: 10 classes of coloured bars on noise, in CIFAR-10's pickle format."""
    from kerarch.data.cifar import TEST_BATCH, TRAIN_BATCHES, write_cifar10_batch

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, count in [(batch, per_batch) for batch in TRAIN_BATCHES] + [(TEST_BATCH, test)]:
        labels = np.arange(count) % 10
        images = rng.integers(0, 40, size=(count, 32, 32, 3)).astype("uint8")
        for i, label in enumerate(labels):
            images[i, 2 * label + 4 : 2 * label + 7, 4:28, label % 3] = 255
        write_cifar10_batch(folder / name, images, labels)
    return folder
