"""VGG-11/13/16/19, with an optional batch-norm variant."""

import keras
from keras import layers

from kerarch.variants import Variant, register_variants
from kerarch.vision.applications import image_input, keras_application
from kerarch.vision.blocks import check_head_args, global_pool, min_input_check

# Convolutions per stage (filters 64, 128, 256, 512, 512), configurations A, B, D, E.
_STAGES = {
    11: (1, 1, 2, 2, 2),
    13: (2, 2, 2, 2, 2),
    16: (2, 2, 3, 3, 3),
    19: (2, 2, 4, 4, 4),
}
_FILTERS = (64, 128, 256, 512, 512)


@keras_application(lambda arguments: f"vgg{arguments['depth']}")
def build_vgg(
    *,
    depth,
    input_shape=(224, 224, 3),
    num_classes=1000,
    include_top=True,
    pooling=None,
    batch_norm=False,
    dropout=0.5,
    classifier_activation="softmax",
    name=None,
):
    """VGG with `depth` weight layers (11, 13, 16 or 19).

    Five stages of 3x3 'same' convolutions (64, 128, 256, 512, 512 filters)
    each closed by a 2x2 max-pool, then flatten, FC 4096, FC 4096 and the
    classifier, as keras.applications' VGG16/VGG19 (no adaptive pooling, so
    the first FC layer's size follows the input: 7x7x512 at 224x224).
    Smallest input: 32x32.

    Preprocessing: `kerarch.vision.preprocess_input("vgg16")`, mode "caffe"
    (keras.applications' VGG weights); `weights="imagenet"` for VGG-16 and
    VGG-19.

    Args:
        depth: 11, 13, 16 or 19.
        input_shape: (height, width, channels), at least 32x32.
        num_classes: classes of the classifier.
        include_top: with False the model ends at the fifth max-pool.
        pooling: headless only: None (feature map), "avg" or "max".
        batch_norm: conv -> BN -> ReLU (torchvision's `vgg*_bn`; the
            convolutions keep their biases).
        dropout: dropout after each hidden FC layer (paper: 0.5;
            keras.applications has none). No parameters.
        classifier_activation: activation of the output layer (None: logits).
        name: model name (default `vgg{depth}`, the registry key).

    Returns:
        A functional `keras.Model`.

    Example:
        >>> backbone = kerarch.build("vgg16", include_top=False, weights="imagenet", pooling="avg")
        >>> backbone.trainable = False
        >>> x = kerarch.vision.preprocess_input("vgg16")(images)  # images: (B, 224, 224, 3), 0-255
        >>> features = backbone.predict(x)  # (B, 512)

    Reference:
        Simonyan & Zisserman, "Very Deep Convolutional Networks for
        Large-Scale Image Recognition", ICLR 2015.
    """
    if depth not in _STAGES:
        raise ValueError(f"VGG depth must be one of {sorted(_STAGES)}, got {depth}.")
    name = name or f"vgg{depth}"
    check_head_args(include_top=include_top, pooling=pooling, num_classes=num_classes)
    min_input_check(input_shape, 32, name)
    inputs = image_input(input_shape)
    x = inputs
    for stage, (filters, convs) in enumerate(zip(_FILTERS, _STAGES[depth]), start=1):
        for i in range(1, convs + 1):
            prefix = f"block{stage}_conv{i}"
            if batch_norm:
                x = layers.Conv2D(filters, 3, padding="same", name=prefix)(x)
                x = layers.BatchNormalization(epsilon=1e-5, name=f"{prefix}_bn")(x)
                x = layers.ReLU(name=f"{prefix}_relu")(x)
            else:
                x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=prefix)(x)
        x = layers.MaxPooling2D(2, name=f"block{stage}_pool")(x)
    if not include_top:
        return keras.Model(inputs, global_pool(x, pooling), name=name)
    x = layers.Flatten(name="flatten")(x)
    for i in (1, 2):
        x = layers.Dense(4096, activation="relu", name=f"fc{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
    x = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    return keras.Model(inputs, x, name=name)


# The registered variants.
VGGS = {
    "vgg11": Variant(
        "VGG-11 (configuration A): 132,863,336 parameters at 224x224x3, 1000 classes.", fixed=dict(depth=11)
    ),
    "vgg13": Variant(
        "VGG-13 (configuration B): 133,047,848 parameters at 224x224x3, 1000 classes.", fixed=dict(depth=13)
    ),
    "vgg16": Variant(
        """VGG-16 (configuration D): 138,357,544 parameters at 224x224x3, 1000 classes.

        Same count as keras.applications.VGG16.
        """,
        fixed=dict(depth=16),
    ),
    "vgg19": Variant(
        """VGG-19 (configuration E): 143,667,240 parameters at 224x224x3, 1000 classes.

        Same count as keras.applications.VGG19.
        """,
        fixed=dict(depth=19),
    ),
}

globals().update(register_variants(build_vgg, VGGS))
