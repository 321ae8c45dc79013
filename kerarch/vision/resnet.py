"""ResNets: ImageNet ResNet-18/34/50/101/152 and CIFAR ResNet-20/32/44/56/110.

Layer names follow keras.applications: `conv{stage}_block{i}_{k}_{conv,bn,relu}`
with stage 2..5 (ImageNet) or 2..4 (CIFAR); `_0_` is the projection shortcut.
"""

import keras
from keras import layers

from kerarch.variants import Variant, register_variants
from kerarch.vision.applications import image_input, keras_application
from kerarch.vision.blocks import channel_zero_pad, check_head_args, classifier_head, min_input_check

# depth -> (block kind, blocks per stage); stages have 64, 128, 256, 512 base filters.
_IMAGENET_STAGES = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
_IMAGENET_FILTERS = (64, 128, 256, 512)
# Basic-block nets follow torchvision (no conv biases, BN epsilon 1e-5);
# bottleneck nets follow keras.applications (conv biases, BN epsilon 1.001e-5).
_BN_EPSILON = {"basic": 1e-5, "bottleneck": 1.001e-5}
_CIFAR_FILTERS = (16, 32, 64)


def _bn(x, epsilon, name):
    return layers.BatchNormalization(epsilon=epsilon, name=name)(x)


def basic_block(x, filters, *, stride=1, shortcut="b", use_bias=False, bn_epsilon=1e-5, name):
    """Two 3x3 convolutions with an identity or projected shortcut.

    Args:
        x: input tensor (B, H, W, C).
        filters: output channels.
        stride: stride of the first convolution.
        shortcut: when the shape changes, "b" projects with a 1x1 conv + BN,
            "a" subsamples and zero-pads the channels (no parameters; a
            `keras.ops.pad` node in the graph, not a layer).
        use_bias: biases on the convolutions.
        bn_epsilon: BatchNormalization epsilon.
        name: prefix, e.g. "conv3_block1".

    Returns:
        Output tensor (B, H/stride, W/stride, filters).
    """
    in_filters = x.shape[-1]
    residual = x
    if stride != 1 or in_filters != filters:
        if shortcut == "b":
            residual = layers.Conv2D(filters, 1, strides=stride, use_bias=use_bias, name=f"{name}_0_conv")(x)
            residual = _bn(residual, bn_epsilon, f"{name}_0_bn")
        else:
            if stride != 1:
                residual = layers.MaxPooling2D(1, strides=stride, name=f"{name}_0_subsample")(residual)
            residual = channel_zero_pad(residual, filters - in_filters)  # keras.ops.pad, no layer
    if stride != 1:
        x = layers.ZeroPadding2D(1, name=f"{name}_1_pad")(x)
    padding = "valid" if stride != 1 else "same"
    x = layers.Conv2D(filters, 3, strides=stride, padding=padding, use_bias=use_bias, name=f"{name}_1_conv")(x)
    x = _bn(x, bn_epsilon, f"{name}_1_bn")
    x = layers.ReLU(name=f"{name}_1_relu")(x)
    x = layers.Conv2D(filters, 3, padding="same", use_bias=use_bias, name=f"{name}_2_conv")(x)
    x = _bn(x, bn_epsilon, f"{name}_2_bn")
    x = layers.Add(name=f"{name}_add")([residual, x])
    return layers.ReLU(name=f"{name}_out")(x)


def bottleneck_block(x, filters, *, stride=1, conv_shortcut=False, bn_epsilon=1.001e-5, name):
    """ResNet v1 bottleneck: 1x1 (stride) -> 3x3 -> 1x1 x4, as keras.applications.

    Args:
        x: input tensor (B, H, W, C).
        filters: bottleneck width; the block outputs 4 * filters channels.
        stride: stride of the first 1x1 convolution (the original v1 layout).
        conv_shortcut: 1x1 conv + BN projection shortcut instead of identity.
        bn_epsilon: BatchNormalization epsilon.
        name: prefix, e.g. "conv4_block3".

    Returns:
        Output tensor (B, H/stride, W/stride, 4 * filters).
    """
    if conv_shortcut:
        residual = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        residual = _bn(residual, bn_epsilon, f"{name}_0_bn")
    else:
        residual = x
    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = _bn(x, bn_epsilon, f"{name}_1_bn")
    x = layers.ReLU(name=f"{name}_1_relu")(x)
    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = _bn(x, bn_epsilon, f"{name}_2_bn")
    x = layers.ReLU(name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = _bn(x, bn_epsilon, f"{name}_3_bn")
    x = layers.Add(name=f"{name}_add")([residual, x])
    return layers.ReLU(name=f"{name}_out")(x)


@keras_application(lambda arguments: f"resnet{arguments['depth']}")
def build_resnet(
    *,
    depth,
    input_shape=(224, 224, 3),
    num_classes=1000,
    include_top=True,
    pooling=None,
    classifier_activation="softmax",
    name=None,
):
    """ImageNet ResNet with `depth` layers (18, 34, 50, 101 or 152).

    Stem: 7x7/2 conv, BN, ReLU, 3x3/2 max-pool; four stages (conv2..conv5)
    with 64, 128, 256, 512 base filters, the first block of stages 3-5
    strided; global average pooling and the classifier.
    ResNet-18/34 use basic blocks in torchvision's layout (no conv biases,
    projection shortcut "B" only where the shape changes). ResNet-50/101/152
    use v1 bottlenecks exactly as keras.applications (stride on the first
    1x1, conv biases, BN epsilon 1.001e-5). Smallest input: 32x32.

    Preprocessing: `kerarch.vision.preprocess_input("resnet50")`: mode "caffe"
    for ResNet-50/101/152 (keras.applications' weights), "torch" for
    ResNet-18/34 (torchvision's); `weights="imagenet"` for ResNet-50/101/152.

    Args:
        depth: 18, 34, 50, 101 or 152.
        input_shape: (height, width, channels), at least 32x32.
        num_classes: classes of the classifier.
        include_top: with False the model ends at conv5's output.
        pooling: headless only: None (feature map), "avg" or "max".
        classifier_activation: activation of the output layer (None: logits).
        name: model name (default `resnet{depth}`, the registry key).

    Returns:
        A functional `keras.Model`.

    Example:
        >>> model = kerarch.build("resnet50", weights="imagenet")
        >>> x = kerarch.vision.preprocess_input("resnet50")(images)  # images: (B, 224, 224, 3), 0-255
        >>> probabilities = model.predict(x)  # (B, 1000)

    Reference:
        He, Zhang, Ren & Sun, "Deep Residual Learning for Image
        Recognition", CVPR 2016.
    """
    if depth not in _IMAGENET_STAGES:
        raise ValueError(f"ImageNet ResNet depth must be one of {sorted(_IMAGENET_STAGES)}, got {depth}.")
    name = name or f"resnet{depth}"
    check_head_args(include_top=include_top, pooling=pooling, num_classes=num_classes)
    min_input_check(input_shape, 32, name)
    kind, blocks = _IMAGENET_STAGES[depth]
    use_bias = kind == "bottleneck"
    eps = _BN_EPSILON[kind]

    inputs = image_input(input_shape)
    x = layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = layers.Conv2D(64, 7, strides=2, use_bias=use_bias, name="conv1_conv")(x)
    x = _bn(x, eps, "conv1_bn")
    x = layers.ReLU(name="conv1_relu")(x)
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, (filters, count) in enumerate(zip(_IMAGENET_FILTERS, blocks), start=2):
        for i in range(1, count + 1):
            stride = 2 if i == 1 and stage > 2 else 1
            block_name = f"conv{stage}_block{i}"
            if kind == "basic":
                x = basic_block(x, filters, stride=stride, bn_epsilon=eps, name=block_name)
            else:
                x = bottleneck_block(x, filters, stride=stride, conv_shortcut=i == 1, bn_epsilon=eps, name=block_name)
    outputs = classifier_head(
        x,
        include_top=include_top,
        pooling=pooling,
        num_classes=num_classes,
        classifier_activation=classifier_activation,
    )
    return keras.Model(inputs, outputs, name=name)


@keras_application(lambda arguments: f"resnet{arguments['depth']}")
def build_cifar_resnet(
    *,
    depth,
    input_shape=(32, 32, 3),
    num_classes=10,
    include_top=True,
    pooling=None,
    shortcut="a",
    classifier_activation="softmax",
    name=None,
):
    """CIFAR ResNet of He et al. (section 4.2): depth = 6n + 2.

    3x3 conv with 16 filters, BN, ReLU; three stages of n basic blocks with
    16, 32 and 64 filters (the first block of stages 2 and 3 has stride 2);
    global average pooling and the classifier. No conv biases.
    Shortcuts are identities; where the shape changes, option "a" (the
    paper's CIFAR choice, default) subsamples with stride 2 and zero-pads the
    new channels, so it adds no parameters; option "b" projects with a 1x1
    conv + BN. Designed for 32x32 inputs; any size works (the two strided
    stages need at least 1x1).

    Preprocessing: `kerarch.vision.preprocess_input("resnet20")`, mode "unit":
    0-255 pixels to [0, 1].

    Args:
        depth: 6n + 2 (20, 32, 44, 56, 110, ...).
        input_shape: (height, width, channels).
        num_classes: classes of the classifier.
        include_top: with False the model ends at the last stage's output.
        pooling: headless only: None (feature map), "avg" or "max".
        shortcut: "a" (zero-padding identity) or "b" (1x1 projection).
        classifier_activation: activation of the output layer (None: logits).
        name: model name (default `resnet{depth}`, the registry key).

    Returns:
        A functional `keras.Model`.

    Example:
        >>> model = kerarch.build("resnet20")  # CIFAR-10: 32x32x3, 10 classes
        >>> model.count_params()
        271098

    Reference:
        He, Zhang, Ren & Sun, "Deep Residual Learning for Image
        Recognition", CVPR 2016, section 4.2.
    """
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n + 2 with n >= 1, got {depth}.")
    if shortcut not in ("a", "b"):
        raise ValueError(f"shortcut must be 'a' or 'b', got {shortcut!r}.")
    name = name or f"resnet{depth}"
    check_head_args(include_top=include_top, pooling=pooling, num_classes=num_classes)
    n = (depth - 2) // 6

    inputs = image_input(input_shape)
    x = layers.Conv2D(16, 3, padding="same", use_bias=False, name="conv1_conv")(inputs)
    x = _bn(x, 1e-5, "conv1_bn")
    x = layers.ReLU(name="conv1_relu")(x)
    for stage, filters in enumerate(_CIFAR_FILTERS, start=2):
        for i in range(1, n + 1):
            stride = 2 if i == 1 and stage > 2 else 1
            x = basic_block(x, filters, stride=stride, shortcut=shortcut, name=f"conv{stage}_block{i}")
    outputs = classifier_head(
        x,
        include_top=include_top,
        pooling=pooling,
        num_classes=num_classes,
        classifier_activation=classifier_activation,
    )
    return keras.Model(inputs, outputs, name=name)


# The registered variants: the ImageNet depths of the paper's Table 1 ...
IMAGENET_RESNETS = {
    "resnet18": Variant(
        """ResNet-18 (basic blocks).

        11,689,512 parameters at 224x224x3 with 1000 classes (torchvision's count, which leaves
        out BatchNorm running statistics; 11,699,112 counting them as Keras does).
        """,
        fixed=dict(depth=18),
    ),
    "resnet34": Variant(
        """ResNet-34 (basic blocks).

        21,797,672 parameters at 224x224x3 with 1000 classes (torchvision's count, which leaves
        out BatchNorm running statistics; 21,814,696 counting them as Keras does).
        """,
        fixed=dict(depth=34),
    ),
    "resnet50": Variant(
        """ResNet-50 (bottleneck blocks).

        25,636,712 parameters at 224x224x3 with 1000 classes, as keras.applications.ResNet50.
        """,
        fixed=dict(depth=50),
    ),
    "resnet101": Variant(
        """ResNet-101 (bottleneck blocks).

        44,707,176 parameters at 224x224x3 with 1000 classes, as keras.applications.ResNet101.
        """,
        fixed=dict(depth=101),
    ),
    "resnet152": Variant(
        """ResNet-152 (bottleneck blocks).

        60,419,944 parameters at 224x224x3 with 1000 classes, as keras.applications.ResNet152.
        """,
        fixed=dict(depth=152),
    ),
}

# ... and the CIFAR depths of section 4.2 (parameters with option A shortcuts, 32x32x3, 10 classes).
CIFAR_RESNETS = {
    "resnet20": Variant(
        """CIFAR ResNet-20: n = 3 basic blocks per stage.

        271,098 parameters (269,722 trainable; the paper: 0.27M).
        """,
        fixed=dict(depth=20),
    ),
    "resnet32": Variant(
        """CIFAR ResNet-32: n = 5 basic blocks per stage.

        466,426 parameters (464,154 trainable; the paper: 0.46M).
        """,
        fixed=dict(depth=32),
    ),
    "resnet44": Variant(
        """CIFAR ResNet-44: n = 7 basic blocks per stage.

        661,754 parameters (658,586 trainable; the paper: 0.66M).
        """,
        fixed=dict(depth=44),
    ),
    "resnet56": Variant(
        """CIFAR ResNet-56: n = 9 basic blocks per stage.

        857,082 parameters (853,018 trainable; the paper: 0.85M).
        """,
        fixed=dict(depth=56),
    ),
    "resnet110": Variant(
        """CIFAR ResNet-110: n = 18 basic blocks per stage.

        1,736,058 parameters (1,727,962 trainable; the paper: 1.7M).
        """,
        fixed=dict(depth=110),
    ),
}

globals().update(register_variants(build_resnet, IMAGENET_RESNETS))
globals().update(register_variants(build_cifar_resnet, CIFAR_RESNETS))
