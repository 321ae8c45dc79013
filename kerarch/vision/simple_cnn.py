"""A small configurable CNN for the "write your own CNN" exercise."""

import keras
from keras import layers

from kerarch.registry import register_builder
from kerarch.vision.applications import image_input, keras_application
from kerarch.vision.blocks import activation_layer, check_head_args, conv_bn, global_pool


@register_builder("simple_cnn")
@keras_application("simple_cnn")
def simple_cnn(
    *,
    input_shape=(32, 32, 3),
    num_classes=10,
    include_top=True,
    pooling=None,
    filters=(32, 64, 128),
    convs_per_block=2,
    batch_norm=True,
    layer_norm=False,
    activation="relu",
    dense_units=128,
    dropout=0.5,
    classifier_activation="softmax",
    name="simple_cnn",
):
    """A plain CNN: blocks of 3x3 convolutions, each closed by a 2x2 max-pool.

    Block i has `convs_per_block` 3x3 'same' convolutions with `filters[i]`
    channels (conv -> BN -> ReLU, or conv + bias -> ReLU without batch
    norm), then a 2x2 max-pool; the head is global average pooling, a dense
    ReLU layer, dropout and the classifier (ReLU: or `activation`). 306,154 parameters with the
    defaults (3 input channels, 10 classes) at any input size. Smallest input:
    2**len(filters) pixels a side (8x8 with the defaults).

    Preprocessing: `kerarch.vision.preprocess_input("simple_cnn")`, mode "unit":
    0-255 pixels to [0, 1].

    Args:
        input_shape: (height, width, channels).
        num_classes: classes of the classifier.
        include_top: with False the model ends at the last max-pool.
        pooling: headless only: None (feature map), "avg" or "max".
        filters: channels of each block.
        convs_per_block: convolutions per block.
        batch_norm: batch normalisation after each convolution.
        layer_norm: layer normalisation of each position's channels after
            each convolution (as in ConvNeXt); exclusive with `batch_norm`.
        activation: hidden activation of the convolutions and the dense
            layer: relu, gelu, tanh, sigmoid or any Keras activation name.
        dense_units: width of the hidden dense layer (0: none).
        dropout: dropout rate before the classifier.
        classifier_activation: activation of the output layer (None: logits).
        name: model name.

    Returns:
        A functional `keras.Model`.

    Example:
        >>> model = kerarch.build("simple_cnn", input_shape=(28, 28, 1), filters=(16, 32))
        >>> model.output_shape
        (None, 10)

    Reference:
        LeCun et al., "Gradient-Based Learning Applied to Document
        Recognition", 1998, and Simonyan & Zisserman, "Very Deep
        Convolutional Networks for Large-Scale Image Recognition", 2015
        (the stacked-3x3 pattern).
    """
    check_head_args(include_top=include_top, pooling=pooling, num_classes=num_classes)
    if batch_norm and layer_norm:
        raise ValueError("simple_cnn takes batch_norm or layer_norm, not both.")
    inputs = image_input(input_shape)
    x = inputs
    for b, width in enumerate(filters, start=1):
        for c in range(1, convs_per_block + 1):
            x = _conv(x, width, batch_norm=batch_norm, layer_norm=layer_norm, activation=activation,
                      name=f"block{b}_conv{c}")
        x = layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
    if not include_top:
        return keras.Model(inputs, global_pool(x, pooling), name=name)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dense_units:
        x = layers.Dense(dense_units, activation=activation, name="fc1")(x)
    if dropout:
        x = layers.Dropout(dropout, name="top_dropout")(x)
    x = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    return keras.Model(inputs, x, name=name)


def _conv(x, width, *, batch_norm, layer_norm, activation, name):
    """3x3 conv, then batch norm or layer norm or a bias, then the activation."""
    normalised = batch_norm or layer_norm
    x = conv_bn(x, width, 3, use_bias=not normalised, batch_norm=batch_norm,
                activation=None if layer_norm else activation, name=name)
    if not layer_norm:
        return x
    x = layers.LayerNormalization(name=f"{name}_ln")(x)
    return activation_layer(activation, name)(x)
