"""The parts SimCLR and BYOL share: a headless encoder from the registry and MLP heads."""

import inspect

import keras
from keras import layers

from kerarch.registry import BUILDERS


def headless_encoder(encoder, *, input_shape, encoder_args=None, name="encoder"):
    """A registered vision builder without its classifier, pooled to (B, features).

    Args:
        encoder: registry name of a builder that takes `include_top` (and,
            when it has one, `pooling`, set to "avg"), e.g. "simple_cnn",
            "resnet20", "lenet5"; or an already built model with a 2-D output.
        input_shape: (height, width, channels).
        encoder_args: further keyword arguments of the builder, e.g.
            {"filters": (32, 64)}.
        name: model name.

    Returns:
        A functional `keras.Model` from (B, H, W, C) to (B, features).

    Raises:
        ValueError: a builder without `include_top`, or an encoder whose
            output is not (B, features).
    """
    if isinstance(encoder, keras.Model):
        model = encoder
    else:
        build = BUILDERS.get(encoder)
        parameters = inspect.signature(build).parameters
        if "include_top" not in parameters:
            raise ValueError(f"Builder {encoder!r} has no include_top argument, so it cannot serve as an encoder.")
        kwargs = {"input_shape": tuple(input_shape), "include_top": False, "name": name, **(encoder_args or {})}
        if "pooling" in parameters:
            kwargs["pooling"] = "avg"
        model = build(**kwargs)
    if len(model.output.shape) != 2:
        raise ValueError(f"The encoder must output (batch, features); {model.name} outputs {tuple(model.output.shape)}.")
    return model


def mlp_head(*, input_dim, hidden_units, output_dim, name):
    """Dense -> BatchNorm -> ReLU per hidden layer, then a linear output (SimCLR's projector, BYOL's projector and predictor).

    Args:
        input_dim: size of the input vector.
        hidden_units: widths of the hidden layers (an int for one layer).
        output_dim: size of the output vector.
        name: model name; its layers are `hidden1`, `hidden1_bn`, ..., `output`.

    Returns:
        A functional `keras.Model` from (B, input_dim) to (B, output_dim).

    Reference:
        Chen, Kornblith, Norouzi & Hinton, "A Simple Framework for
        Contrastive Learning of Visual Representations", ICML 2020.
    """
    hidden_units = (hidden_units,) if isinstance(hidden_units, int) else tuple(hidden_units)
    features = keras.Input(shape=(input_dim,), name="features")
    x = features
    for i, units in enumerate(hidden_units, start=1):
        x = layers.Dense(units, use_bias=False, name=f"hidden{i}")(x)
        x = layers.BatchNormalization(name=f"hidden{i}_bn")(x)
        x = layers.ReLU(name=f"hidden{i}_relu")(x)
    return keras.Model(features, layers.Dense(output_dim, name="output")(x), name=name)
