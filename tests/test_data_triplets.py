"""Metric-learning batches (kerarch.data.triplets)."""

import numpy as np

from kerarch.data.triplets import balanced_batches


def test_balanced_batches_hold_every_class_equally():
    y = np.repeat(np.arange(3), [7, 9, 12])
    x = np.zeros((len(y), 2, 2, 1), "uint8")
    batches = list(balanced_batches(x, y, batch_size=7, seed=0))
    assert len(batches) == 3  # 2 per class per batch; class 0 runs out after 3 batches
    for images, labels in batches:
        assert np.bincount(labels.numpy(), minlength=3).tolist() == [2, 2, 2]
        assert images.dtype == "float32"
