"""The losses recipes choose by name (`loss=`): Keras's own, and the triplet loss Keras lacks."""

import keras

from kerarch.registry import Registry
from kerarch.training.triplet import TripletLoss

LOSSES = Registry("loss")


@LOSSES.register("crossentropy")
def _crossentropy(*, from_logits=False, label_smoothing=0.0, delta=1.0, sparse=True):
    if sparse and not label_smoothing:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    # Keras's sparse cross-entropy has no label smoothing: the recipe must feed one-hot targets.
    return keras.losses.CategoricalCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing)


@LOSSES.register("mse")
def _mse(*, from_logits=False, label_smoothing=0.0, delta=1.0, sparse=True):
    return keras.losses.MeanSquaredError()


@LOSSES.register("huber")
def _huber(*, from_logits=False, label_smoothing=0.0, delta=1.0, sparse=True):
    return keras.losses.Huber(delta=delta)


@LOSSES.register("triplet")
def _triplet(**options):
    return TripletLoss(**options)


def make_loss(name, **kwargs):
    """A Keras loss by registry name: crossentropy (label_smoothing), mse, huber (delta),

    triplet (margin, mining, squared): `kerarch.training.triplet.TripletLoss`, which Keras lacks.
    """
    return LOSSES.get(name)(**kwargs)
