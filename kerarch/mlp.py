"""Perceptron and multi-layer perceptron builders."""

import keras
from keras import layers

from kerarch.registry import register_builder


def _flat_input(input_shape):
    inputs = keras.Input(shape=input_shape, name="inputs")
    x = layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
    return inputs, x


@register_builder("perceptron")
def perceptron(*, input_shape, num_classes=2, name="perceptron"):
    """Single-layer perceptron: one affine map, then sigmoid or softmax.

    A linear classifier; it cannot represent XOR (Minsky & Papert 1969).

    Args:
        input_shape: shape of one example; multi-dimensional inputs are flattened.
        num_classes: 2 gives one sigmoid unit, more give a softmax layer.
        name: model name.

    Returns:
        A functional `keras.Model`.

    Reference:
        Rosenblatt, "The Perceptron: A Probabilistic Model for Information
        Storage and Organization in the Brain", Psychological Review, 1958.
    """
    inputs, x = _flat_input(input_shape)
    outputs = _classifier(x, num_classes)
    return keras.Model(inputs, outputs, name=name)


@register_builder("mlp")
def mlp(
    *,
    input_shape,
    num_classes=10,
    hidden_units=(256, 128),
    activation="relu",
    dropout=0.0,
    batch_norm=False,
    layer_norm=False,
    residual=False,
    kernel_initializer="glorot_uniform",
    bn_momentum=0.99,
    name="mlp",
):
    """Multi-layer perceptron: stacked dense layers with a classifier on top.

    Args:
        input_shape: shape of one example; multi-dimensional inputs are flattened.
        num_classes: 2 gives one sigmoid unit, more give a softmax layer;
            `None` returns the last hidden layer's features.
        hidden_units: width of each hidden layer.
        activation: hidden-layer activation (relu, gelu, tanh, sigmoid or
            any Keras activation name).
        dropout: dropout rate after each hidden layer (0 disables it).
        batch_norm: batch normalisation before each activation.
        layer_norm: layer normalisation before each activation (Ba et al.
            2016); exclusive with `batch_norm`.
        residual: add each hidden layer's input to its output where the
            widths match (He et al. 2016's identity shortcut), so gradients
            reach the early layers of a deep stack.
        kernel_initializer: initializer of the hidden kernels (Keras's
            Glorot default; "he_normal" keeps deep ReLU stacks' signal
            scale, He et al. 2015).
        bn_momentum: momentum of the batch-norm moving statistics; lower it
            (e.g. 0.9) for short runs, where the 0.99 averages still remember
            their initial variance of 1.
        name: model name.

    Returns:
        A functional `keras.Model`.

    Reference:
        Rumelhart, Hinton & Williams, "Learning representations by
        back-propagating errors", Nature, 1986.
    """
    if batch_norm and layer_norm:
        raise ValueError("mlp takes batch_norm or layer_norm, not both.")
    inputs, x = _flat_input(input_shape)
    for i, units in enumerate(hidden_units, start=1):
        shortcut = x
        x = layers.Dense(units, use_bias=not (batch_norm or layer_norm), kernel_initializer=kernel_initializer,
                         name=f"dense{i}")(x)
        if batch_norm:
            x = layers.BatchNormalization(momentum=bn_momentum, name=f"dense{i}_bn")(x)
        if layer_norm:
            x = layers.LayerNormalization(name=f"dense{i}_ln")(x)
        x = layers.Activation(activation, name=f"dense{i}_{activation}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dense{i}_dropout")(x)
        if residual and shortcut.shape[-1] == units:
            x = layers.Add(name=f"dense{i}_add")([shortcut, x])
    outputs = x if num_classes is None else _classifier(x, num_classes)
    return keras.Model(inputs, outputs, name=name)


def _classifier(x, num_classes):
    if num_classes == 2:
        return layers.Dense(1, activation="sigmoid", name="predictions")(x)
    return layers.Dense(num_classes, activation="softmax", name="predictions")(x)
