"""LeNet-5."""

import keras
from keras import layers

from kerarch.registry import register_builder
from kerarch.vision.applications import image_input, keras_application

# LeNet-5 reads a 32x32 field; MNIST's 28x28 digits sit centred inside it.
_FIELD = 32


@register_builder("lenet5")
@keras_application("lenet5")
def lenet5(
    *,
    input_shape=(28, 28, 1),
    num_classes=10,
    include_top=True,
    activation="tanh",
    name="lenet5",
):
    """LeNet-5: C1-S2-C3-S4-C5-F6 with a softmax classifier.

    Layout as in the paper: 6 5x5 convolutions, 2x2 average subsampling,
    16 5x5 convolutions, subsampling, 120 5x5 convolutions (C5, one output
    position on a 32x32 field), 84 dense units (F6), then the classes.
    Inputs smaller than 32x32 are zero-padded to the 32x32 field, as the
    paper did with MNIST. Modern simplifications: C3 is fully connected to
    S2 (the paper used a sparse table), subsampling has no trainable
    coefficient, and the output is softmax instead of RBF units.
    61,706 parameters on 28x28x1 with 10 classes. Smallest input: 32x32
    after padding, so any input up to 32x32 works (at least 5x5).

    Preprocessing: `kerarch.vision.preprocess_input("lenet5")`, mode "unit":
    0-255 pixels to [0, 1].

    Args:
        input_shape: (height, width, channels).
        num_classes: number of classes of the classifier.
        include_top: with False the model ends at F6's 84 features.
        activation: "tanh" (paper) or any Keras activation name.
        name: model name.

    Returns:
        A functional `keras.Model`.

    Example:
        >>> model = kerarch.build("lenet5")  # MNIST: 28x28x1, 10 classes
        >>> model.count_params()
        61706

    Reference:
        LeCun, Bottou, Bengio & Haffner, "Gradient-Based Learning Applied to
        Document Recognition", Proceedings of the IEEE, 1998.
    """
    inputs = image_input(input_shape)
    x = inputs
    pad_h, pad_w = (max(0, _FIELD - d) for d in input_shape[:2])
    if pad_h or pad_w:
        x = layers.ZeroPadding2D(
            ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2)),
            name="pad",
        )(x)
    x = layers.Conv2D(6, 5, activation=activation, name="c1")(x)
    x = layers.AveragePooling2D(2, name="s2")(x)
    x = layers.Conv2D(16, 5, activation=activation, name="c3")(x)
    x = layers.AveragePooling2D(2, name="s4")(x)
    x = layers.Conv2D(120, 5, activation=activation, name="c5")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(84, activation=activation, name="f6")(x)
    if include_top:
        x = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name=name)
