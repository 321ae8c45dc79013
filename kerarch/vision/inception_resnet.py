"""Inception-ResNet-v2."""

import keras
from keras import layers

from kerarch.registry import register_builder
from kerarch.vision.applications import image_input, keras_application
from kerarch.vision.blocks import check_head_args, classifier_head, min_input_check, scaled_residual
from kerarch.vision.inception import (
    concat,
    inception_branches,
    inception_conv,
    inception_module,
    inception_v3_stem,
)

# Residual branches of the three Inception-ResNet blocks (conv specs as in `inception.inception_branches`).
_RESIDUAL_BRANCHES = {
    "block35": (((32, 1),), ((32, 1), (32, 3)), ((32, 1), (48, 3), (64, 3))),
    "block17": (((192, 1),), ((128, 1), (160, (1, 7)), (192, (7, 1)))),
    "block8": (((192, 1),), ((192, 1), (224, (1, 3)), (256, (3, 1)))),
}

def inception_resnet_block(x, *, block_type, scale, activation="relu", name):
    """x + scale * conv1x1(concat(branches(x))), then `activation`.

    Args:
        x: input tensor.
        block_type: "block35" (35x35), "block17" (17x17) or "block8" (8x8).
        scale: residual scaling factor.
        activation: "relu", or None for the last block.
        name: prefix, e.g. "block35_3".

    Returns:
        Output tensor with the input's shape.
    """
    mixed = concat(inception_branches(x, _RESIDUAL_BRANCHES[block_type], name), f"{name}_mixed")
    up = layers.Conv2D(x.shape[-1], 1, use_bias=True, name=f"{name}_conv")(mixed)
    x = scaled_residual(x, up, scale)  # keras.ops, no layer
    if activation is not None:
        x = layers.Activation(activation, name=f"{name}_{activation}")(x)
    return x


def _mixed_5b(x):
    specs = (((96, 1),), ((48, 1), (64, 5)), ((64, 1), (96, 3), (96, 3)), ("avg", (64, 1)))
    return inception_module(x, specs, name="mixed_5b")


def _mixed_6a(x):
    specs = (((384, 3, 2, "valid"),), ((256, 1), (256, 3), (384, 3, 2, "valid")), ("max/2",))
    return inception_module(x, specs, name="mixed_6a")


def _mixed_7a(x):
    specs = (
        ((256, 1), (384, 3, 2, "valid")),
        ((256, 1), (288, 3, 2, "valid")),
        ((256, 1), (288, 3), (320, 3, 2, "valid")),
        ("max/2",),
    )
    return inception_module(x, specs, name="mixed_7a")


# (block type, repeats, residual scale, reduction after the group).
_STAGES = (
    ("block35", 10, 0.17, _mixed_6a),
    ("block17", 20, 0.1, _mixed_7a),
    ("block8", 10, 0.2, None),
)


@register_builder("inception_resnet_v2")
@keras_application("inception_resnet_v2")
def inception_resnet_v2(
    *,
    input_shape=(299, 299, 3),
    num_classes=1000,
    include_top=True,
    pooling=None,
    classifier_activation="softmax",
    name="inception_resnet_v2",
):
    """Inception-ResNet-v2, as keras.applications.InceptionResNetV2.

    Inception v3's stem, mixed_5b (320 channels), 10 x block35 (residual
    scale 0.17), reduction mixed_6a, 20 x block17 (0.1), reduction mixed_7a,
    10 x block8 (0.2; the last one scale 1.0 without activation), a 1x1 conv
    to 1536 channels, global average pooling and the classifier.
    55,873,736 parameters at 299x299x3 with 1000 classes. Smallest input:
    75x75.

    Preprocessing: `kerarch.vision.preprocess_input("inception_resnet_v2")`,
    mode "tf": [-1, 1], as keras.applications; `weights="imagenet"` loads its weights.

    Args:
        input_shape: (height, width, channels), at least 75x75.
        num_classes: classes of the classifier.
        include_top: with False the model ends at conv_7b.
        pooling: headless only: None (feature map), "avg" or "max".
        classifier_activation: activation of the output layer (None: logits).
        name: model name.

    Returns:
        A functional `keras.Model`.

    Example:
        >>> backbone = kerarch.build("inception_resnet_v2", include_top=False, pooling="avg", input_shape=(75, 75, 3))
        >>> backbone.output_shape
        (None, 1536)

    Reference:
        Szegedy, Ioffe, Vanhoucke & Alemi, "Inception-v4, Inception-ResNet
        and the Impact of Residual Connections on Learning", AAAI 2017.
    """
    check_head_args(include_top=include_top, pooling=pooling, num_classes=num_classes)
    min_input_check(input_shape, 75, name)
    inputs = image_input(input_shape)
    x = _mixed_5b(inception_v3_stem(inputs))
    for block_type, repeats, scale, reduction in _STAGES:
        for i in range(1, repeats + 1):
            last = block_type == "block8" and i == repeats
            x = inception_resnet_block(
                x,
                block_type=block_type,
                scale=1.0 if last else scale,
                activation=None if last else "relu",
                name=f"{block_type}_{i}",
            )
        if reduction is not None:
            x = reduction(x)
    x = inception_conv(x, 1536, 1, name="conv_7b")
    outputs = classifier_head(
        x,
        include_top=include_top,
        pooling=pooling,
        num_classes=num_classes,
        classifier_activation=classifier_activation,
    )
    return keras.Model(inputs, outputs, name=name)
