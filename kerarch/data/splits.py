"""Train/validation splits of loaded datasets."""

import dataclasses

import numpy as np


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
    order = np.random.default_rng(seed).permutation(len(data.x_train))
    val, train = order[:validation_examples], order[validation_examples:]
    if train_examples:
        train = train[:train_examples]
    return SplitData(
        name=data.name, source=data.source, notice=data.notice, class_names=data.class_names,
        x_train=data.x_train[train], y_train=data.y_train[train],
        x_val=data.x_train[val], y_val=data.y_train[val],
        x_test=data.x_test, y_test=data.y_test,
    )
