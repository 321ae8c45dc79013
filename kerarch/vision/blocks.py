"""Building blocks shared by the vision builders.

Tensor-in/tensor-out functions. Everything here uses stock `keras.layers`
and `keras.ops` only (no custom layers), so the models run on the
TensorFlow, JAX and PyTorch backends and a saved `.keras` file loads with
Keras alone.
"""

from keras import layers
from keras import ops

POOLINGS = (None, "avg", "max")


def check_head_args(*, include_top, pooling, num_classes):
    """Validates the `include_top` / `pooling` / `num_classes` trio."""
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}.")
    if include_top and (num_classes is None or num_classes < 1):
        raise ValueError(f"include_top=True needs num_classes >= 1, got {num_classes!r}.")


def min_input_check(input_shape, min_size, name):
    """Raises when the spatial size is known and below `min_size`."""
    for d in input_shape[:2]:
        if d is not None and d < min_size:
            raise ValueError(
                f"{name} needs inputs of at least {min_size}x{min_size}; got {tuple(input_shape)}."
            )


def activation_layer(kind, name):
    """A named activation layer: "relu", "relu6", "hard_swish", "hard_sigmoid", ...

    The layer is called `{name}_{kind}`.
    """
    if kind == "relu6":
        return layers.ReLU(6.0, name=f"{name}_relu6")
    if kind == "relu":
        return layers.ReLU(name=f"{name}_relu")
    return layers.Activation(kind, name=f"{name}_{kind}")


def conv_bn(
    x,
    filters,
    kernel_size,
    *,
    strides=1,
    padding="same",
    use_bias=False,
    batch_norm=True,
    bn_scale=True,
    bn_epsilon=1e-3,
    bn_momentum=0.99,
    activation="relu",
    name,
):
    """Conv2D, optional BatchNormalization, optional activation.

    Layers are named `{name}_conv`, `{name}_bn`, `{name}_{activation}`.

    Args:
        x: input tensor (B, H, W, C).
        filters: output channels.
        kernel_size: int or (kh, kw).
        strides: convolution stride.
        padding: "same" or "valid".
        use_bias: bias on the convolution.
        batch_norm: add a BatchNormalization after the convolution.
        bn_scale: learn the BN scale (gamma); Inception v3 / TF-slim use False.
        bn_epsilon: BN epsilon.
        bn_momentum: BN moving-average momentum.
        activation: activation kind for `activation_layer`, or None.
        name: prefix of the layer names.

    Returns:
        The output tensor.
    """
    x = layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias, name=f"{name}_conv"
    )(x)
    if batch_norm:
        x = layers.BatchNormalization(
            epsilon=bn_epsilon, momentum=bn_momentum, scale=bn_scale, name=f"{name}_bn"
        )(x)
    if activation is not None:
        x = activation_layer(activation, name)(x)
    return x


def correct_pad(x, kernel_size):
    """Zero padding that makes a strided 'valid' conv behave like TF's 'same'.

    Same rule as keras.applications' `imagenet_utils.correct_pad`.
    """
    size = x.shape[1:3]
    adjust = (1, 1) if size[0] is None else (1 - size[0] % 2, 1 - size[1] % 2)
    half = kernel_size // 2
    return ((half - adjust[0], half), (half - adjust[1], half))


def classifier_head(
    x,
    *,
    include_top,
    pooling,
    num_classes,
    classifier_activation="softmax",
    dropout=0.0,
    name="predictions",
):
    """Global average pooling + dense classifier, or the headless output.

    With `include_top=False`, `pooling=None` returns the feature map,
    "avg"/"max" a global pooling of it.
    """
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout:
            x = layers.Dropout(dropout, name="top_dropout")(x)
        return layers.Dense(num_classes, activation=classifier_activation, name=name)(x)
    return global_pool(x, pooling)


def global_pool(x, pooling):
    """Applies the headless `pooling` ("avg", "max" or None) to a 4-D map."""
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def squeeze_excite(x, *, reduced_filters, gate="hard_sigmoid", name):
    """Squeeze-and-excitation: pool, 1x1 reduce + ReLU, 1x1 expand + gate, rescale."""
    filters = x.shape[-1]
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_squeeze")(x)
    s = layers.Conv2D(reduced_filters, 1, name=f"{name}_reduce_conv")(s)
    s = layers.ReLU(name=f"{name}_reduce_relu")(s)
    s = layers.Conv2D(filters, 1, name=f"{name}_expand_conv")(s)
    s = layers.Activation(gate, name=f"{name}_expand_{gate}")(s)
    return layers.Multiply(name=f"{name}_excite")([x, s])


def depthwise_separable_block(
    x,
    filters,
    *,
    kernel_size=3,
    strides=1,
    activation="relu6",
    project_activation="relu6",
    se_filters=None,
    bn_epsilon=1e-3,
    bn_momentum=0.99,
    name,
):
    """Depthwise-separable convolution, the block all MobileNets share.

    depthwise kxk (stride s) -> BN -> activation -> [squeeze-excite]
    -> pointwise 1x1 -> BN -> [project_activation].
    MobileNet v1 uses it as is (ReLU6 after both convolutions); v2 and v3 put
    an expansion 1x1 in front and leave the projection linear
    (`project_activation=None`); v3 adds squeeze-and-excitation.

    Layers: `{name}_dw_pad`, `{name}_dw_conv`, `{name}_dw_bn`, `{name}_dw_<act>`,
    `{name}_se_*`, `{name}_pw_conv`, `{name}_pw_bn`, `{name}_pw_<act>`.

    Args:
        x: input tensor (B, H, W, C).
        filters: output channels of the pointwise convolution.
        kernel_size: depthwise kernel size.
        strides: depthwise stride (1 or 2); stride 2 pads like TF "same".
        activation: activation after the depthwise convolution.
        project_activation: activation after the pointwise one, or None.
        se_filters: reduced width of a squeeze-excite block, or None for none.
        bn_epsilon: BN epsilon.
        bn_momentum: BN momentum.
        name: prefix of the layer names.

    Returns:
        The output tensor (B, H/s, W/s, filters).
    """
    if strides == 1:
        padding = "same"
    else:
        x = layers.ZeroPadding2D(correct_pad(x, kernel_size), name=f"{name}_dw_pad")(x)
        padding = "valid"
    x = layers.DepthwiseConv2D(
        kernel_size, strides=strides, padding=padding, use_bias=False, name=f"{name}_dw_conv"
    )(x)
    x = layers.BatchNormalization(epsilon=bn_epsilon, momentum=bn_momentum, name=f"{name}_dw_bn")(x)
    x = activation_layer(activation, f"{name}_dw")(x)
    if se_filters:
        x = squeeze_excite(x, reduced_filters=se_filters, name=f"{name}_se")
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw_conv")(x)
    x = layers.BatchNormalization(epsilon=bn_epsilon, momentum=bn_momentum, name=f"{name}_pw_bn")(x)
    if project_activation is not None:
        x = activation_layer(project_activation, f"{name}_pw")(x)
    return x


def scaled_residual(shortcut, residual, scale):
    """`shortcut + scale * residual`, the Inception-ResNet residual scaling.

    Plain `keras.ops` calls in the functional graph (no custom layer), so a
    saved model loads with Keras alone.
    """
    return ops.add(shortcut, ops.multiply(residual, float(scale)))


def channel_zero_pad(x, pad):
    """Pads the channel axis with `pad` zeros: the "option A" ResNet shortcut.

    The zeros are split as evenly as possible (the extra one after). A
    `keras.ops.pad` call in the functional graph (no custom layer, no weights).
    """
    before = int(pad) // 2
    return ops.pad(x, [[0, 0], [0, 0], [0, 0], [before, int(pad) - before]])
