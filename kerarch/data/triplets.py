"""Batches for metric learning: every class in every batch, so that triplets can be mined inside it."""

import numpy as np
import tensorflow as tf

from kerarch.data.pipeline import scale_images


def balanced_batches(x, y, *, batch_size, seed):
    """Shuffled batches of uint8 images -> float32 with batch_size // classes examples of every class.

    Hermans et al. 2017's P x K batches with P = all classes. One shuffled
    stream per class, read in turns of `per_class` examples; the epoch ends
    when the first class runs out.
    """
    classes = np.unique(y)
    per_class = max(1, batch_size // len(classes))
    streams = [
        tf.data.Dataset.from_tensor_slices((x[y == c], y[y == c]))
        .shuffle(int(np.sum(y == c)), seed=seed + i, reshuffle_each_iteration=True)
        .batch(per_class, drop_remainder=True)
        for i, c in enumerate(classes)
    ]
    turns = tf.data.Dataset.range(len(classes)).repeat()
    batches = tf.data.Dataset.choose_from_datasets(streams, turns).unbatch()
    return batches.batch(per_class * len(classes), drop_remainder=True).map(scale_images).prefetch(tf.data.AUTOTUNE)
