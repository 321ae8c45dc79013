"""MobileNet v1, v2 and v3 (small, large).

All three are built from one block, `blocks.depthwise_separable_block`
(depthwise kxk -> BN -> act [-> squeeze-excite] -> pointwise 1x1 -> BN
[-> act]); v2 and v3 wrap it in `inverted_residual_block`. Layer names are
`block{i}_{expand,dw,se,pw}_*`; counts equal keras.applications'.
"""

import keras
from keras import layers

from kerarch.registry import register_builder
from kerarch.variants import Variant, register_variants
from kerarch.vision.applications import image_input, keras_application
from kerarch.vision.blocks import (
    activation_layer,
    check_head_args,
    conv_bn,
    depthwise_separable_block,
    global_pool,
    min_input_check,
)

_MIN_SIZE = 32


def make_divisible(value, divisor=8, min_value=None):
    """Rounds a channel count to a multiple of `divisor`, never below 90% of it."""
    min_value = min_value or divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def inverted_residual_block(
    x,
    *,
    expanded_filters,
    filters,
    kernel_size=3,
    strides=1,
    activation="relu6",
    se_filters=None,
    bn_momentum=0.999,
    name,
):
    """MobileNet v2/v3 inverted residual: 1x1 expansion, then a linear depthwise-separable block.

    A residual connection is added when the stride is 1 and the width is unchanged.

    Args:
        x: input tensor (B, H, W, C).
        expanded_filters: width after the 1x1 expansion; None skips the expansion.
        filters: output width (linear projection).
        kernel_size: depthwise kernel size.
        strides: depthwise stride.
        activation: activation after the expansion and the depthwise conv.
        se_filters: squeeze-excite width, or None.
        bn_momentum: BN momentum (keras.applications uses 0.999).
        name: prefix, e.g. "block3".

    Returns:
        Output tensor (B, H/strides, W/strides, filters).
    """
    shortcut = x
    in_filters = x.shape[-1]
    if expanded_filters is not None:
        x = conv_bn(
            x,
            expanded_filters,
            1,
            bn_epsilon=1e-3,
            bn_momentum=bn_momentum,
            activation=activation,
            name=f"{name}_expand",
        )
    x = depthwise_separable_block(
        x,
        filters,
        kernel_size=kernel_size,
        strides=strides,
        activation=activation,
        project_activation=None,
        se_filters=se_filters,
        bn_momentum=bn_momentum,
        name=name,
    )
    if strides == 1 and in_filters == filters:
        x = layers.Add(name=f"{name}_add")([shortcut, x])
    return x


def _check(input_shape, include_top, pooling, num_classes, alpha, name):
    check_head_args(include_top=include_top, pooling=pooling, num_classes=num_classes)
    min_input_check(input_shape, _MIN_SIZE, name)
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}.")


# ---------------------------------------------------------------- MobileNet v1

# (pointwise filters, stride) of the 13 depthwise-separable blocks.
_V1_BLOCKS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    *((512, 1),) * 5,
    (1024, 2),
    (1024, 1),
)


@register_builder("mobilenet_v1")
@keras_application("mobilenet_v1")
def mobilenet_v1(
    *,
    input_shape=(224, 224, 3),
    num_classes=1000,
    include_top=True,
    pooling=None,
    alpha=1.0,
    dropout=1e-3,
    classifier_activation="softmax",
    name="mobilenet_v1",
):
    """MobileNet v1: a 3x3/2 conv and 13 depthwise-separable blocks.

    3x3/2 conv 32, then 13 blocks (depthwise 3x3 -> BN -> ReLU6 -> pointwise
    1x1 -> BN -> ReLU6) widening 64 to 1024, global average pooling, dropout
    and the classifier. Every width is int(width * alpha). Same parameter
    count as keras.applications.MobileNet: 4,253,864 at 224x224x3 with 1000
    classes, alpha 1.0 (its 1x1-conv classifier is a Dense layer here).
    Stride-2 blocks pad like TF "same" (keras.applications pads one pixel
    bottom-right, which differs only on odd sizes). Smallest input: 32x32.

    Preprocessing: `kerarch.vision.preprocess_input("mobilenet_v1")`, mode "tf":
    [-1, 1], as keras.applications; `weights="imagenet"` loads its weights.

    Args:
        input_shape: (height, width, channels), at least 32x32.
        num_classes: classes of the classifier.
        include_top: with False the model ends at the last block.
        pooling: headless only: None (feature map), "avg" or "max".
        alpha: width multiplier (paper: 1.0, 0.75, 0.5, 0.25).
        dropout: dropout rate before the classifier.
        classifier_activation: activation of the output layer (None: logits).
        name: model name.

    Returns:
        A functional `keras.Model`.

    Example:
        >>> model = kerarch.build("mobilenet_v1", alpha=0.5, input_shape=(128, 128, 3), classes=10)
        >>> model.output_shape
        (None, 10)

    Reference:
        Howard et al., "MobileNets: Efficient Convolutional Neural Networks
        for Mobile Vision Applications", arXiv:1704.04861, 2017.
    """
    _check(input_shape, include_top, pooling, num_classes, alpha, name)
    inputs = image_input(input_shape)
    x = conv_bn(inputs, int(32 * alpha), 3, strides=2, activation="relu6", name="conv1")
    for i, (filters, stride) in enumerate(_V1_BLOCKS, start=1):
        x = depthwise_separable_block(x, int(filters * alpha), strides=stride, name=f"block{i}")
    if not include_top:
        return keras.Model(inputs, global_pool(x, pooling), name=name)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(dropout, name="top_dropout")(x)
    x = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    return keras.Model(inputs, x, name=name)


# ---------------------------------------------------------------- MobileNet v2

# (expansion t, output channels c, repeats n, first stride s): the paper's Table 2.
_V2_STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


@register_builder("mobilenet_v2")
@keras_application("mobilenet_v2")
def mobilenet_v2(
    *,
    input_shape=(224, 224, 3),
    num_classes=1000,
    include_top=True,
    pooling=None,
    alpha=1.0,
    bn_momentum=0.999,
    classifier_activation="softmax",
    name="mobilenet_v2",
):
    """MobileNet v2: inverted residuals with linear bottlenecks.

    3x3/2 conv 32, 17 inverted residual blocks (the paper's Table 2: 1x1
    expansion x t, depthwise 3x3, linear 1x1 projection; residual where the
    shape allows), 1x1 conv 1280, global average pooling and the
    classifier; ReLU6 throughout. Widths are alpha-scaled and rounded to
    multiples of 8 (the last conv only grows when alpha > 1). Same parameter
    count as keras.applications.MobileNetV2: 3,538,984 at 224x224x3 with
    1000 classes, alpha 1.0. Smallest input: 32x32.

    Preprocessing: `kerarch.vision.preprocess_input("mobilenet_v2")`, mode "tf":
    [-1, 1], as keras.applications; `weights="imagenet"` loads its weights
    (alpha 0.35 to 1.4).

    Args:
        input_shape: (height, width, channels), at least 32x32.
        num_classes: classes of the classifier.
        include_top: with False the model ends at the 1280-channel conv.
        pooling: headless only: None (feature map), "avg" or "max".
        alpha: width multiplier (paper: 0.35 to 1.4).
        bn_momentum: BatchNorm moving-average momentum; keras.applications'
            0.999 suits long ImageNet runs, 0.99 short runs on small data.
        classifier_activation: activation of the output layer (None: logits).
        name: model name.

    Returns:
        A functional `keras.Model`.

    Example:
        >>> inputs = keras.Input((224, 224, 3))  # 0-255 pixels
        >>> x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
        >>> backbone = kerarch.build(
        ...     "mobilenet_v2", input_tensor=x, include_top=False, pooling="avg", weights="imagenet"
        ... )
        >>> model = keras.Model(inputs, keras.layers.Dense(10)(backbone.output))

    Reference:
        Sandler, Howard, Zhu, Zhmoginov & Chen, "MobileNetV2: Inverted
        Residuals and Linear Bottlenecks", CVPR 2018.
    """
    _check(input_shape, include_top, pooling, num_classes, alpha, name)
    inputs = image_input(input_shape)
    x = conv_bn(
        inputs, make_divisible(32 * alpha), 3, strides=2, bn_momentum=bn_momentum, activation="relu6", name="conv1"
    )
    block = 0
    for expansion, channels, repeats, first_stride in _V2_STAGES:
        for r in range(repeats):
            block += 1
            x = inverted_residual_block(
                x,
                expanded_filters=None if block == 1 else expansion * x.shape[-1],
                filters=make_divisible(int(channels * alpha)),
                strides=first_stride if r == 0 else 1,
                bn_momentum=bn_momentum,
                name=f"block{block}",
            )
    last = make_divisible(1280 * alpha) if alpha > 1.0 else 1280
    x = conv_bn(x, last, 1, bn_momentum=bn_momentum, activation="relu6", name="top")
    if not include_top:
        return keras.Model(inputs, global_pool(x, pooling), name=name)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    return keras.Model(inputs, x, name=name)


# ---------------------------------------------------------------- MobileNet v3

# (expansion, output channels, kernel, stride, squeeze-excite, activation): the paper's Tables 1 and 2.
# "k" is 5 (3 when minimalistic); "hs" is hard-swish (ReLU when minimalistic).
_V3_SMALL = (
    (1, 16, 3, 2, True, "relu"),
    (72 / 16, 24, 3, 2, False, "relu"),
    (88 / 24, 24, 3, 1, False, "relu"),
    (4, 40, "k", 2, True, "hs"),
    (6, 40, "k", 1, True, "hs"),
    (6, 40, "k", 1, True, "hs"),
    (3, 48, "k", 1, True, "hs"),
    (3, 48, "k", 1, True, "hs"),
    (6, 96, "k", 2, True, "hs"),
    (6, 96, "k", 1, True, "hs"),
    (6, 96, "k", 1, True, "hs"),
)
_V3_LARGE = (
    (1, 16, 3, 1, False, "relu"),
    (4, 24, 3, 2, False, "relu"),
    (3, 24, 3, 1, False, "relu"),
    (3, 40, "k", 2, True, "relu"),
    (3, 40, "k", 1, True, "relu"),
    (3, 40, "k", 1, True, "relu"),
    (6, 80, 3, 2, False, "hs"),
    (2.5, 80, 3, 1, False, "hs"),
    (2.3, 80, 3, 1, False, "hs"),
    (2.3, 80, 3, 1, False, "hs"),
    (6, 112, 3, 1, True, "hs"),
    (6, 112, 3, 1, True, "hs"),
    (6, 160, "k", 2, True, "hs"),
    (6, 160, "k", 1, True, "hs"),
    (6, 160, "k", 1, True, "hs"),
)
_V3_SPECS = {"small": (_V3_SMALL, 1024), "large": (_V3_LARGE, 1280)}


@keras_application(lambda arguments: f"mobilenet_v3_{arguments['size']}")
def build_mobilenet_v3(
    *,
    size,
    input_shape=(224, 224, 3),
    num_classes=1000,
    include_top=True,
    pooling=None,
    alpha=1.0,
    minimalistic=False,
    dropout=0.2,
    classifier_activation="softmax",
    name=None,
):
    """MobileNet v3 "small" or "large", as keras.applications.MobileNetV3*.

    3x3/2 conv 16 with hard-swish, the paper's table of inverted residual
    blocks (3x3 or 5x5 depthwise, optional squeeze-excite with a
    hard-sigmoid gate, ReLU or hard-swish), a 1x1 conv to 6x the last width,
    global average pooling, a 1024/1280-unit dense layer with hard-swish,
    dropout and the classifier. `minimalistic` uses 3x3 kernels, ReLU and
    no squeeze-excite. keras.applications' built-in input rescaling layer
    is not included (it has no parameters): feed inputs scaled to [-1, 1].
    Smallest input: 32x32.

    Preprocessing: `kerarch.vision.preprocess_input("mobilenet_v3_small")`, mode
    "tf": [-1, 1].

    Args:
        size: "small" or "large".
        input_shape: (height, width, channels), at least 32x32.
        num_classes: classes of the classifier.
        include_top: with False the model ends at the last 1x1 conv.
        pooling: headless only: None (feature map), "avg" or "max".
        alpha: width multiplier (widths rounded to multiples of 8).
        minimalistic: the "minimalistic" variant.
        dropout: dropout rate before the classifier.
        classifier_activation: activation of the output layer (None: logits).
        name: model name (default `mobilenet_v3_{size}`, the registry key).

    Returns:
        A functional `keras.Model`.

    Example:
        >>> model = kerarch.build("mobilenet_v3_small", input_shape=(32, 32, 3), classes=10)
        >>> model.output_shape
        (None, 10)

    Reference:
        Howard et al., "Searching for MobileNetV3", ICCV 2019.
    """
    if size not in _V3_SPECS:
        raise ValueError(f"size must be 'small' or 'large', got {size!r}.")
    name = name or f"mobilenet_v3_{size}"
    _check(input_shape, include_top, pooling, num_classes, alpha, name)
    table, last_point = _V3_SPECS[size]
    hard_swish = "relu" if minimalistic else "hard_swish"

    inputs = image_input(input_shape)
    x = conv_bn(inputs, 16, 3, strides=2, bn_momentum=0.999, activation=hard_swish, name="conv1")
    for i, (expansion, channels, kernel, stride, se, act) in enumerate(table, start=1):
        expanded = make_divisible(x.shape[-1] * expansion)
        x = inverted_residual_block(
            x,
            expanded_filters=None if i == 1 else expanded,
            filters=make_divisible(channels * alpha),
            kernel_size=3 if kernel == "k" and minimalistic else (5 if kernel == "k" else kernel),
            strides=stride,
            activation=hard_swish if act == "hs" else "relu",
            se_filters=make_divisible(expanded * 0.25) if se and not minimalistic else None,
            name=f"block{i}",
        )
    x = conv_bn(x, make_divisible(x.shape[-1] * 6), 1, bn_momentum=0.999, activation=hard_swish, name="top")
    if not include_top:
        return keras.Model(inputs, global_pool(x, pooling), name=name)
    if alpha > 1.0:
        last_point = make_divisible(last_point * alpha)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dense(last_point, name="head_dense")(x)
    x = activation_layer(hard_swish, "head")(x)
    if dropout:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    x = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    return keras.Model(inputs, x, name=name)


# The registered variants.
MOBILENET_V3S = {
    "mobilenet_v3_small": Variant(
        """MobileNet v3 small: 2,554,968 parameters at 224x224x3, 1000 classes, alpha 1.0.

        Same count as keras.applications.MobileNetV3Small.
        """,
        fixed=dict(size="small"),
    ),
    "mobilenet_v3_large": Variant(
        """MobileNet v3 large: 5,507,432 parameters at 224x224x3, 1000 classes, alpha 1.0.

        Same count as keras.applications.MobileNetV3Large.
        """,
        fixed=dict(size="large"),
    ),
}

globals().update(register_variants(build_mobilenet_v3, MOBILENET_V3S))
