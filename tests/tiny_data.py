"""Tiny MNIST-format datasets the tests write themselves."""

import numpy as np

from kerarch.data import write_idx


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
