"""AlexNet, in torchvision's one-tower layout."""

import keras
from keras import layers

from kerarch.registry import register_builder
from kerarch.vision.applications import image_input, keras_application
from kerarch.vision.blocks import check_head_args, global_pool, min_input_check

# (filters, kernel, stride, padding, max-pool after) for conv1..conv5, as torchvision.
_CONVS = (
    (64, 11, 4, 2, True),
    (192, 5, 1, 2, True),
    (384, 3, 1, 1, False),
    (256, 3, 1, 1, False),
    (256, 3, 1, 1, True),
)
_MIN_SIZE = 63


@register_builder("alexnet")
@keras_application("alexnet")
def alexnet(
    *,
    input_shape=(224, 224, 3),
    num_classes=1000,
    include_top=True,
    pooling=None,
    dropout=0.5,
    classifier_activation="softmax",
    name="alexnet",
):
    """AlexNet: five convolutions and three fully connected layers, one tower.

    Layout of torchvision's `alexnet` (the "one weird trick" single-GPU
    variant of the paper's two-tower net): conv 11x11/4 64, max-pool 3/2,
    conv 5x5 192, max-pool, conv 3x3 384, 256, 256, max-pool, adaptive
    average pooling to 6x6, then dropout-FC 4096-dropout-FC 4096-FC classes.
    No local response normalisation. The 6x6 adaptive pooling keeps the
    classifier's size independent of the input: 61,100,840 parameters for
    any input with 1000 classes (224x224x3 is the reference). Smallest input:
    63x63.

    Preprocessing: `kerarch.vision.preprocess_input("alexnet")`, mode "torch"
    (torchvision's AlexNet weights' normalisation).

    Args:
        input_shape: (height, width, channels), at least 63x63.
        num_classes: classes of the classifier.
        include_top: with False the model ends at the last max-pool.
        pooling: headless only: None (feature map), "avg" or "max".
        dropout: dropout rate before the two hidden FC layers.
        classifier_activation: activation of the output layer (None: logits).
        name: model name.

    Returns:
        A functional `keras.Model`.

    Example:
        >>> model = kerarch.build("alexnet", input_shape=(64, 64, 3), classes=10)
        >>> model.output_shape
        (None, 10)

    Reference:
        Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep
        Convolutional Neural Networks", NeurIPS 2012; Krizhevsky, "One weird
        trick for parallelizing convolutional neural networks", 2014.
    """
    check_head_args(include_top=include_top, pooling=pooling, num_classes=num_classes)
    min_input_check(input_shape, _MIN_SIZE, name)
    inputs = image_input(input_shape)
    x = inputs
    for i, (filters, kernel, stride, pad, pool) in enumerate(_CONVS, start=1):
        x = layers.ZeroPadding2D(pad, name=f"conv{i}_pad")(x)
        x = layers.Conv2D(filters, kernel, strides=stride, activation="relu", name=f"conv{i}")(x)
        if pool:
            x = layers.MaxPooling2D(3, strides=2, name=f"pool{i}")(x)
    if not include_top:
        return keras.Model(inputs, global_pool(x, pooling), name=name)
    x = layers.AdaptiveAveragePooling2D((6, 6), name="adaptive_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    for i in (1, 2):
        x = layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
        x = layers.Dense(4096, activation="relu", name=f"fc{i}")(x)
    x = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    return keras.Model(inputs, x, name=name)
