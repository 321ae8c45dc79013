"""Train/validation splits of loaded datasets."""

import dataclasses

import numpy as np

from kerarch.errors import KerarchError


@dataclasses.dataclass
class SplitData:
    """ImageData with a validation split carved from the end of the training set."""

    name: str
    source: str
    notice: str
    class_names: list
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def input_shape(self):
        return self.x_train.shape[1:]


def split_validation(data, validation_examples, train_examples=0, seed=0):
    """Holds out `validation_examples` training examples (a seeded permutation)."""
    val, train = holdout(len(data.x_train), validation_examples, train_examples, seed, data.source)
    return SplitData(
        name=data.name, source=data.source, notice=data.notice, class_names=data.class_names,
        x_train=data.x_train[train], y_train=data.y_train[train],
        x_val=data.x_train[val], y_val=data.y_train[val],
        x_test=data.x_test, y_test=data.y_test,
    )


def holdout(num_examples, validation_examples, train_examples, seed, source):
    """(validation, training) indices: a seeded permutation of `num_examples`, the first `validation_examples` held out.

    Args:
        num_examples: size of the training set the split is carved from.
        validation_examples: how many examples to hold out.
        train_examples: keep at most this many of the rest for training (0: all).
        seed: seed of the permutation.
        source: where the data came from, for the error message.

    Raises:
        KerarchError: `validation_examples` leaves no training examples.
    """
    if validation_examples >= num_examples:
        raise KerarchError(
            f"validation_examples={validation_examples} leaves no training examples out of the "
            f"{num_examples:,} in {source}; lower it."
        )
    order = np.random.default_rng(seed).permutation(num_examples)
    return order[:validation_examples], order[validation_examples:][: train_examples or None]
