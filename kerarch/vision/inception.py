"""Inception v1 (GoogLeNet), Inception v3 and Inception v4.

Inception-ResNet-v2 lives in `inception_resnet.py`. Each network is a table
of named modules; a module is a tensor-in/tensor-out function whose branch
layers are named `{module}_b{branch}_{k}_{conv,bn,relu}`.
"""

import keras
from keras import layers

from kerarch.registry import register_builder
from kerarch.vision.applications import image_input, keras_application
from kerarch.vision.blocks import check_head_args, classifier_head, conv_bn, min_input_check


def inception_conv(x, filters, kernel_size, *, strides=1, padding="same", name):
    """Conv (no bias) -> BN (no scale, as TF-slim / keras.applications) -> ReLU."""
    return conv_bn(x, filters, kernel_size, strides=strides, padding=padding, bn_scale=False, name=name)


def concat(branches, name):
    """Concatenates branch outputs along the channel axis."""
    return layers.Concatenate(axis=-1, name=name)(branches)


def inception_branches(x, specs, name, conv=inception_conv):
    """Runs parallel branches on `x` and returns their outputs.

    Each branch is a tuple of steps: a conv `(filters, kernel)` or
    `(filters, kernel, strides, padding)`, or a 3x3 pool: "avg" / "max"
    (stride 1, 'same') or "max/2" (stride 2, 'valid'). Layers are named
    `{name}_b{branch}_{step}_*`.
    """
    outputs = []
    for b, spec in enumerate(specs):
        y = x
        for k, step in enumerate(spec):
            prefix = f"{name}_b{b}_{k}"
            if step == "avg":
                y = layers.AveragePooling2D(3, strides=1, padding="same", name=f"{prefix}_avgpool")(y)
            elif step == "max":
                y = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{prefix}_maxpool")(y)
            elif step == "max/2":
                y = layers.MaxPooling2D(3, strides=2, name=f"{prefix}_maxpool")(y)
            else:
                filters, kernel, *rest = step
                strides, padding = rest if rest else (1, "same")
                y = conv(y, filters, kernel, strides=strides, padding=padding, name=prefix)
        outputs.append(y)
    return outputs


def inception_module(x, specs, *, name, conv=inception_conv):
    """Parallel branches (see `inception_branches`) concatenated into one tensor named `name`."""
    return concat(inception_branches(x, specs, name, conv), name)


# ---------------------------------------------------------------- Inception v1

# module name -> (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj); "pool" is a 3x3/2 max-pool.
_V1_MODULES = (
    ("3a", (64, 96, 128, 16, 32, 32)),
    ("3b", (128, 128, 192, 32, 96, 64)),
    "pool",
    ("4a", (192, 96, 208, 16, 48, 64)),
    ("4b", (160, 112, 224, 24, 64, 64)),
    ("4c", (128, 128, 256, 24, 64, 64)),
    ("4d", (112, 144, 288, 32, 64, 64)),
    ("4e", (256, 160, 320, 32, 128, 128)),
    "pool",
    ("5a", (256, 160, 320, 32, 128, 128)),
    ("5b", (384, 192, 384, 48, 128, 128)),
)
_V1_AUX_AFTER = ("4a", "4d")


def _v1_conv(x, filters, kernel_size, *, strides=1, padding="same", name):
    # The paper's convolutions: bias + ReLU, no batch normalisation.
    return conv_bn(
        x, filters, kernel_size, strides=strides, padding=padding, use_bias=True, batch_norm=False, name=name
    )


def googlenet_module(x, widths, *, name):
    """GoogLeNet inception module: 1x1 | 1x1-3x3 | 1x1-5x5 | 3x3 max-pool-1x1, concatenated."""
    n1, r3, n3, r5, n5, pp = widths
    specs = (((n1, 1),), ((r3, 1), (n3, 3)), ((r5, 1), (n5, 5)), ("max", (pp, 1)))
    return inception_module(x, specs, name=name, conv=_v1_conv)


def _v1_aux_head(x, num_classes, classifier_activation, name):
    x = layers.AveragePooling2D(5, strides=3, name=f"{name}_avgpool")(x)
    x = _v1_conv(x, 128, 1, name=f"{name}_0")
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dense(1024, activation="relu", name=f"{name}_fc")(x)
    x = layers.Dropout(0.7, name=f"{name}_dropout")(x)
    return layers.Dense(num_classes, activation=classifier_activation, name=f"{name}_predictions")(x)


@register_builder("inception_v1")
@keras_application("inception_v1")
def inception_v1(
    *,
    input_shape=(224, 224, 3),
    num_classes=1000,
    include_top=True,
    pooling=None,
    aux_heads=False,
    dropout=0.4,
    classifier_activation="softmax",
    name="inception_v1",
):
    """GoogLeNet (Inception v1), the paper's Table 1.

    Stem: 7x7/2 conv 64, 3x3/2 max-pool, 1x1 conv 64, 3x3 conv 192, 3x3/2
    max-pool; nine inception modules (3a-3b, pool, 4a-4e, pool, 5a-5b) of
    parallel 1x1, 1x1-3x3, 1x1-5x5 and max-pool-1x1 branches; global average
    pooling, dropout 0.4 and the classifier. Convolutions have biases and
    ReLU, no batch normalisation; local response normalisation is left out
    (no parameters). Optional auxiliary heads on 4a and 4d (5x5/3 average
    pool, 1x1 conv 128, FC 1024, dropout 0.7, classifier): the model then
    returns `[main, aux1, aux2]`. 6,998,552 parameters at 224x224x3 with
    1000 classes (13,378,280 with the auxiliary heads).
    Reductions are 'same'-padded, so any input size works without the
    auxiliary heads; with them the input must be at least 65x65.

    Preprocessing: `kerarch.vision.preprocess_input("inception_v1")`, mode "tf":
    [-1, 1].

    Args:
        input_shape: (height, width, channels).
        num_classes: classes of the classifier(s).
        include_top: with False the model ends at module 5b.
        pooling: headless only: None (feature map), "avg" or "max".
        aux_heads: add the two auxiliary classifiers (needs include_top).
        dropout: dropout rate before the main classifier.
        classifier_activation: activation of the output layers (None: logits).
        name: model name.

    Returns:
        A functional `keras.Model`.

    Example:
        >>> model = kerarch.build("inception_v1", classes=10, aux_heads=True)
        >>> len(model.outputs)
        3

    Reference:
        Szegedy et al., "Going Deeper with Convolutions", CVPR 2015.
    """
    check_head_args(include_top=include_top, pooling=pooling, num_classes=num_classes)
    if aux_heads and not include_top:
        raise ValueError("aux_heads=True needs include_top=True.")
    if aux_heads:
        min_input_check(input_shape, 65, name)
    inputs = image_input(input_shape)
    x = _v1_conv(inputs, 64, 7, strides=2, name="conv1")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    x = _v1_conv(x, 64, 1, name="conv2_reduce")
    x = _v1_conv(x, 192, 3, name="conv2")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)
    aux_outputs = []
    pools = 2
    for module in _V1_MODULES:
        if module == "pool":
            pools += 1
            x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{pools}")(x)
            continue
        label, widths = module
        x = googlenet_module(x, widths, name=f"inception{label}")
        if aux_heads and label in _V1_AUX_AFTER:
            aux_outputs.append(
                _v1_aux_head(x, num_classes, classifier_activation, name=f"aux{len(aux_outputs) + 1}")
            )
    outputs = classifier_head(
        x,
        include_top=include_top,
        pooling=pooling,
        num_classes=num_classes,
        classifier_activation=classifier_activation,
        dropout=dropout,
    )
    if aux_outputs:
        outputs = [outputs, *aux_outputs]
    return keras.Model(inputs, outputs, name=name)


# ---------------------------------------------------------------- Inception v3


def inception_v3_a(x, *, pool_filters, name):
    """35x35 module: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avg-pool-1x1."""
    specs = (
        ((64, 1),),
        ((48, 1), (64, 5)),
        ((64, 1), (96, 3), (96, 3)),
        ("avg", (pool_filters, 1)),
    )
    return inception_module(x, specs, name=name)


def inception_v3_reduction_a(x, *, name):
    """35x35 -> 17x17: 3x3/2 | 1x1-3x3-3x3/2 | max-pool/2."""
    specs = (((384, 3, 2, "valid"),), ((64, 1), (96, 3), (96, 3, 2, "valid")), ("max/2",))
    return inception_module(x, specs, name=name)


def inception_v3_b(x, *, channels_7x7, name):
    """17x17 module with factorised 7x7 convolutions (1x7 and 7x1)."""
    c = channels_7x7
    specs = (
        ((192, 1),),
        ((c, 1), (c, (1, 7)), (192, (7, 1))),
        ((c, 1), (c, (7, 1)), (c, (1, 7)), (c, (7, 1)), (192, (1, 7))),
        ("avg", (192, 1)),
    )
    return inception_module(x, specs, name=name)


def inception_v3_reduction_b(x, *, name):
    """17x17 -> 8x8: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | max-pool/2."""
    specs = (
        ((192, 1), (320, 3, 2, "valid")),
        ((192, 1), (192, (1, 7)), (192, (7, 1)), (192, 3, 2, "valid")),
        ("max/2",),
    )
    return inception_module(x, specs, name=name)


def inception_v3_c(x, *, name):
    """8x8 module with expanded filter banks (1x3 and 3x1 side by side)."""
    b0 = inception_conv(x, 320, 1, name=f"{name}_b0_0")
    b1 = inception_conv(x, 384, 1, name=f"{name}_b1_0")
    b1 = concat(
        [
            inception_conv(b1, 384, (1, 3), name=f"{name}_b1_1a"),
            inception_conv(b1, 384, (3, 1), name=f"{name}_b1_1b"),
        ],
        f"{name}_b1",
    )
    b2 = inception_conv(x, 448, 1, name=f"{name}_b2_0")
    b2 = inception_conv(b2, 384, 3, name=f"{name}_b2_1")
    b2 = concat(
        [
            inception_conv(b2, 384, (1, 3), name=f"{name}_b2_2a"),
            inception_conv(b2, 384, (3, 1), name=f"{name}_b2_2b"),
        ],
        f"{name}_b2",
    )
    b3 = layers.AveragePooling2D(3, strides=1, padding="same", name=f"{name}_b3_0_avgpool")(x)
    b3 = inception_conv(b3, 192, 1, name=f"{name}_b3_1")
    return concat([b0, b1, b2, b3], name)


def inception_v3_stem(x):
    """299x299 -> 35x35: the stem Inception v3 and Inception-ResNet-v2 share."""
    x = inception_conv(x, 32, 3, strides=2, padding="valid", name="stem_1")
    x = inception_conv(x, 32, 3, padding="valid", name="stem_2")
    x = inception_conv(x, 64, 3, name="stem_3")
    x = layers.MaxPooling2D(3, strides=2, name="stem_pool1")(x)
    x = inception_conv(x, 80, 1, padding="valid", name="stem_4")
    x = inception_conv(x, 192, 3, padding="valid", name="stem_5")
    return layers.MaxPooling2D(3, strides=2, name="stem_pool2")(x)


# keras.applications' module names mixed0..mixed10.
_V3_MODULES = (
    (inception_v3_a, dict(pool_filters=32)),
    (inception_v3_a, dict(pool_filters=64)),
    (inception_v3_a, dict(pool_filters=64)),
    (inception_v3_reduction_a, {}),
    (inception_v3_b, dict(channels_7x7=128)),
    (inception_v3_b, dict(channels_7x7=160)),
    (inception_v3_b, dict(channels_7x7=160)),
    (inception_v3_b, dict(channels_7x7=192)),
    (inception_v3_reduction_b, {}),
    (inception_v3_c, {}),
    (inception_v3_c, {}),
)


@register_builder("inception_v3")
@keras_application("inception_v3")
def inception_v3(
    *,
    input_shape=(299, 299, 3),
    num_classes=1000,
    include_top=True,
    pooling=None,
    classifier_activation="softmax",
    name="inception_v3",
):
    """Inception v3, layer for layer as keras.applications.InceptionV3.

    Stem (3x3/2, 3x3, 3x3, max-pool, 1x1, 3x3, max-pool), three 35x35
    modules, a grid reduction, four 17x17 modules with factorised 7x7
    convolutions, a reduction, two 8x8 modules, global average pooling and
    the classifier. Convolutions without bias, BN without scale. No
    auxiliary head. 23,851,784 parameters at 299x299x3 with 1000 classes.
    Smallest input: 75x75.

    Preprocessing: `kerarch.vision.preprocess_input("inception_v3")`, mode "tf":
    [-1, 1], as keras.applications; `weights="imagenet"` loads its weights.

    Args:
        input_shape: (height, width, channels), at least 75x75.
        num_classes: classes of the classifier.
        include_top: with False the model ends at mixed10.
        pooling: headless only: None (feature map), "avg" or "max".
        classifier_activation: activation of the output layer (None: logits).
        name: model name.

    Returns:
        A functional `keras.Model`.

    Example:
        >>> model = kerarch.build("inception_v3", weights="imagenet")
        >>> x = kerarch.vision.preprocess_input("inception_v3")(images)  # (B, 299, 299, 3), 0-255
        >>> probabilities = model.predict(x)

    Reference:
        Szegedy, Vanhoucke, Ioffe, Shlens & Wojna, "Rethinking the Inception
        Architecture for Computer Vision", CVPR 2016.
    """
    check_head_args(include_top=include_top, pooling=pooling, num_classes=num_classes)
    min_input_check(input_shape, 75, name)
    inputs = image_input(input_shape)
    x = inception_v3_stem(inputs)
    for i, (module, kwargs) in enumerate(_V3_MODULES):
        x = module(x, name=f"mixed{i}", **kwargs)
    outputs = classifier_head(
        x,
        include_top=include_top,
        pooling=pooling,
        num_classes=num_classes,
        classifier_activation=classifier_activation,
    )
    return keras.Model(inputs, outputs, name=name)


# ---------------------------------------------------------------- Inception v4


def inception_v4_stem(x):
    """299x299 -> 35x35x384, the Inception-v4 stem (paper's Figure 3)."""
    x = inception_conv(x, 32, 3, strides=2, padding="valid", name="stem_1")
    x = inception_conv(x, 32, 3, padding="valid", name="stem_2")
    x = inception_conv(x, 64, 3, name="stem_3")
    x = inception_module(x, (("max/2",), ((96, 3, 2, "valid"),)), name="mixed_3a")
    specs = (
        ((64, 1), (96, 3, 1, "valid")),
        ((64, 1), (64, (1, 7)), (64, (7, 1)), (96, 3, 1, "valid")),
    )
    x = inception_module(x, specs, name="mixed_4a")
    return inception_module(x, (((192, 3, 2, "valid"),), ("max/2",)), name="mixed_5a")


def inception_v4_a(x, *, name):
    """35x35 Inception-A: 1x1 96 | 1x1-3x3 96 | 1x1-3x3-3x3 96 | avg-pool-1x1 96."""
    specs = (((96, 1),), ((64, 1), (96, 3)), ((64, 1), (96, 3), (96, 3)), ("avg", (96, 1)))
    return inception_module(x, specs, name=name)


def inception_v4_reduction_a(x, *, name):
    """35x35 -> 17x17 Reduction-A with k, l, m, n = 192, 224, 256, 384."""
    specs = (((384, 3, 2, "valid"),), ((192, 1), (224, 3), (256, 3, 2, "valid")), ("max/2",))
    return inception_module(x, specs, name=name)


def inception_v4_b(x, *, name):
    """17x17 Inception-B with factorised 7x7 convolutions."""
    specs = (
        ((384, 1),),
        ((192, 1), (224, (1, 7)), (256, (7, 1))),
        ((192, 1), (192, (7, 1)), (224, (1, 7)), (224, (7, 1)), (256, (1, 7))),
        ("avg", (128, 1)),
    )
    return inception_module(x, specs, name=name)


def inception_v4_reduction_b(x, *, name):
    """17x17 -> 8x8 Reduction-B."""
    specs = (
        ((192, 1), (192, 3, 2, "valid")),
        ((256, 1), (256, (1, 7)), (320, (7, 1)), (320, 3, 2, "valid")),
        ("max/2",),
    )
    return inception_module(x, specs, name=name)


def inception_v4_c(x, *, name):
    """8x8 Inception-C with 1x3 / 3x1 splits."""
    b0 = inception_conv(x, 256, 1, name=f"{name}_b0_0")
    b1 = inception_conv(x, 384, 1, name=f"{name}_b1_0")
    b1 = concat(
        [
            inception_conv(b1, 256, (1, 3), name=f"{name}_b1_1a"),
            inception_conv(b1, 256, (3, 1), name=f"{name}_b1_1b"),
        ],
        f"{name}_b1",
    )
    b2 = inception_conv(x, 384, 1, name=f"{name}_b2_0")
    b2 = inception_conv(b2, 448, (3, 1), name=f"{name}_b2_1")
    b2 = inception_conv(b2, 512, (1, 3), name=f"{name}_b2_2")
    b2 = concat(
        [
            inception_conv(b2, 256, (1, 3), name=f"{name}_b2_3a"),
            inception_conv(b2, 256, (3, 1), name=f"{name}_b2_3b"),
        ],
        f"{name}_b2",
    )
    b3 = layers.AveragePooling2D(3, strides=1, padding="same", name=f"{name}_b3_0_avgpool")(x)
    b3 = inception_conv(b3, 256, 1, name=f"{name}_b3_1")
    return concat([b0, b1, b2, b3], name)


# (module, repeats, first TF-slim name): 4 x A, Reduction-A, 7 x B, Reduction-B, 3 x C.
_V4_STAGES = (
    (inception_v4_a, 4, "mixed_5", "b"),
    (inception_v4_reduction_a, 1, "mixed_6", "a"),
    (inception_v4_b, 7, "mixed_6", "b"),
    (inception_v4_reduction_b, 1, "mixed_7", "a"),
    (inception_v4_c, 3, "mixed_7", "b"),
)


@register_builder("inception_v4")
@keras_application("inception_v4")
def inception_v4(
    *,
    input_shape=(299, 299, 3),
    num_classes=1000,
    include_top=True,
    pooling=None,
    dropout=0.2,
    classifier_activation="softmax",
    name="inception_v4",
):
    """Inception-v4, as TF-slim's `inception_v4` (the authors' release).

    Stem (Figure 3) to 35x35x384, 4 x Inception-A, Reduction-A, 7 x
    Inception-B, Reduction-B, 3 x Inception-C (1536 channels), global
    average pooling, dropout 0.2 (keep 0.8) and the classifier. No
    auxiliary head. Convolutions without bias, BN without scale (TF-slim).
    42,711,400 parameters at 299x299x3 with 1000 classes, of which
    42,648,232 trainable; the PyTorch ports (Cadene's pretrainedmodels,
    timm, pytorchcv), which give BN a scale and leave out its running
    statistics, count 42,679,816 for the same graph. Layer names follow
    TF-slim's modules (mixed_3a ... mixed_7d). Smallest input: 75x75.

    Preprocessing: `kerarch.vision.preprocess_input("inception_v4")`, mode "tf":
    [-1, 1] (TF-slim's weights).

    Args:
        input_shape: (height, width, channels), at least 75x75.
        num_classes: classes of the classifier.
        include_top: with False the model ends at mixed_7d.
        pooling: headless only: None (feature map), "avg" or "max".
        dropout: dropout rate before the classifier.
        classifier_activation: activation of the output layer (None: logits).
        name: model name.

    Returns:
        A functional `keras.Model`.

    Example:
        >>> backbone = kerarch.build("inception_v4", include_top=False, pooling="avg", input_shape=(75, 75, 3))
        >>> backbone.output_shape
        (None, 1536)

    Reference:
        Szegedy, Ioffe, Vanhoucke & Alemi, "Inception-v4, Inception-ResNet
        and the Impact of Residual Connections on Learning", AAAI 2017.
    """
    check_head_args(include_top=include_top, pooling=pooling, num_classes=num_classes)
    min_input_check(input_shape, 75, name)
    inputs = image_input(input_shape)
    x = inception_v4_stem(inputs)
    for module, repeats, prefix, first in _V4_STAGES:
        for i in range(repeats):
            x = module(x, name=f"{prefix}{chr(ord(first) + i)}")
    outputs = classifier_head(
        x,
        include_top=include_top,
        pooling=pooling,
        num_classes=num_classes,
        classifier_activation=classifier_activation,
        dropout=dropout,
    )
    return keras.Model(inputs, outputs, name=name)
