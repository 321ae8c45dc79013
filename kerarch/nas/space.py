"""The searchable CNN: a stage-table builder and its keras-tuner search space."""

import keras
import keras_tuner
from keras import layers

from kerarch.errors import KerarchError
from kerarch.registry import register_builder
from kerarch.vision.blocks import check_head_args, conv_bn, depthwise_separable_block, global_pool

BLOCK_TYPES = ("plain", "residual", "separable")
# BatchNorm momentum for runs of a few hundred steps: Keras's 0.99 leaves the moving statistics unsettled.
SHORT_RUN_BN_MOMENTUM = 0.9


def short_run_batch_norm(model):
    """Sets every BatchNormalization layer of `model` to SHORT_RUN_BN_MOMENTUM; returns `model`.

    For a hand-designed model trained with a candidate's budget (e.g. a baseline), so that all are alike.
    """
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = SHORT_RUN_BN_MOMENTUM
    return model


def residual_block(x, filters, *, kernel_size=3, bn_momentum=0.99, name):
    """Two kxk conv-BN layers added to an identity (or 1x1-projected) shortcut, then ReLU.

    Our own rather than kerarch.vision.resnet.basic_block, which is fixed at
    3x3 kernels. Layers: `{name}_1_*`, `{name}_2_*`, `{name}_proj_*`, `{name}_add`,
    `{name}_out`.

    Reference:
        He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", CVPR 2016.
    """
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = conv_bn(x, filters, 1, activation=None, bn_momentum=bn_momentum, name=f"{name}_proj")
    x = conv_bn(x, filters, kernel_size, bn_momentum=bn_momentum, name=f"{name}_1")
    x = conv_bn(x, filters, kernel_size, activation=None, bn_momentum=bn_momentum, name=f"{name}_2")
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.ReLU(name=f"{name}_out")(x)


def stage_block(x, filters, *, kernel_size, block, bn_momentum=0.99, name):
    """One searchable block: "plain" conv-BN-ReLU, "residual" or depthwise-"separable"."""
    if block == "plain":
        return conv_bn(x, filters, kernel_size, bn_momentum=bn_momentum, name=name)
    if block == "residual":
        return residual_block(x, filters, kernel_size=kernel_size, bn_momentum=bn_momentum, name=name)
    if block == "separable":
        return depthwise_separable_block(x, filters, kernel_size=kernel_size, activation="relu",
                                         project_activation="relu", bn_momentum=bn_momentum, name=name)
    raise ValueError(f"block must be one of {BLOCK_TYPES}, got {block!r}.")


@register_builder("nas_cnn")
def nas_cnn(
    *,
    input_shape=(28, 28, 1),
    num_classes=10,
    include_top=True,
    pooling=None,
    stages=((16, 3, "plain"), (32, 3, "residual")),
    dense_units=64,
    bn_momentum=SHORT_RUN_BN_MOMENTUM,
    classifier_activation="softmax",
    name="nas_cnn",
):
    """A CNN described by a stage table, the model the NAS recipes search over.

    Stage i is one block of type `block` with `filters` channels and
    `kernel_size` x `kernel_size` convolutions, followed by a 2x2 max-pool:
    "plain" is conv-BN-ReLU, "residual" two conv-BN layers around a shortcut
    (He et al. 2016), "separable" a depthwise-separable convolution
    (MobileNet v1). The head is global average pooling, an optional dense ReLU
    layer and the classifier. 17,690 parameters with the defaults (28x28x1, 10
    classes). Smallest input: 2**len(stages) pixels a side.

    Args:
        input_shape: (height, width, channels).
        num_classes: classes of the classifier.
        include_top: with False the model ends at the last max-pool.
        pooling: headless only: None (feature map), "avg" or "max".
        stages: (filters, kernel_size, block) per stage, block one of
            "plain", "residual", "separable".
        dense_units: width of the hidden dense layer (0: none).
        bn_momentum: BatchNorm momentum; 0.9 rather than Keras's 0.99 so
            that the moving statistics settle within the few hundred steps
            a search gives each candidate.
        classifier_activation: activation of the output layer (None: logits).
        name: model name.

    Returns:
        A functional `keras.Model`.

    Reference:
        Real, Aggarwal, Huang & Le, "Regularized Evolution for Image Classifier
        Architecture Search", AAAI 2019, and Zoph & Le, "Neural Architecture
        Search with Reinforcement Learning", ICLR 2017 (the search spaces this
        small one imitates).
    """
    check_head_args(include_top=include_top, pooling=pooling, num_classes=num_classes)
    if not stages:
        raise ValueError("stages must hold at least one (filters, kernel_size, block) row.")
    inputs = keras.Input(shape=input_shape, name="inputs")
    x = inputs
    for i, (filters, kernel_size, block) in enumerate(stages, start=1):
        x = stage_block(x, filters, kernel_size=kernel_size, block=block, bn_momentum=bn_momentum, name=f"stage{i}")
        x = layers.MaxPooling2D(2, name=f"stage{i}_pool")(x)
    if not include_top:
        return keras.Model(inputs, global_pool(x, pooling), name=name)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dense_units:
        x = layers.Dense(dense_units, activation="relu", name="fc1")(x)
    x = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    return keras.Model(inputs, x, name=name)


class CnnSearchSpace(keras_tuner.HyperModel):
    """The choices of `nas_cnn` as keras-tuner hyperparameters, and the compiled model they build.

    Hyperparameters: `stages` (1..max_stages); for each active stage i
    `stage{i}_filters`, `stage{i}_kernel` and `stage{i}_block` (conditional on
    `stages` >= i, so inactive stages carry no values); `dense_units`.

    Args:
        input_shape: one image's shape.
        num_classes: classes of the classifier.
        max_stages: most stages (each halves the resolution).
        filters: channel choices of every stage.
        kernel_sizes: kernel-size choices.
        block_types: block choices, a subset of BLOCK_TYPES.
        dense_units: choices for the hidden dense layer (0: none).
        optimizer_fn: returns a fresh optimizer for each candidate (default: Adam, learning rate 1e-3).
        jit_compile: `Model.compile`'s jit_compile.
        steps_per_execution: `Model.compile`'s steps_per_execution.
    """

    def __init__(self, *, input_shape, num_classes, max_stages=3, filters=(8, 16, 32), kernel_sizes=(3, 5),
                 block_types=BLOCK_TYPES, dense_units=(0, 32, 64), optimizer_fn=None, jit_compile="auto",
                 steps_per_execution=1):
        super().__init__(name="nas_cnn_space")
        if not (filters and kernel_sizes and block_types and dense_units):
            raise KerarchError("filters, kernel_sizes, block_types and dense_units each need at least one choice.")
        unknown = set(block_types) - set(BLOCK_TYPES)
        if unknown:
            raise KerarchError(f"Unknown block type(s) {sorted(unknown)}; choose from {', '.join(BLOCK_TYPES)}.")
        smallest = min(input_shape[:2])
        if 2**max_stages > smallest:
            raise KerarchError(f"max_stages={max_stages} halves {smallest}-pixel images below one pixel; "
                               f"use at most {smallest.bit_length() - 1}.")
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.max_stages = max_stages
        self.filters = list(filters)
        self.kernel_sizes = list(kernel_sizes)
        self.block_types = list(block_types)
        self.dense_units = list(dense_units)
        self.optimizer_fn = optimizer_fn or (lambda: keras.optimizers.Adam(1e-3))
        self.jit_compile = jit_compile
        self.steps_per_execution = steps_per_execution

    def builder_kwargs(self, hp):
        """The `nas_cnn` keyword arguments `hp` chooses (declaring the hyperparameters on first use)."""
        count = hp.Choice("stages", list(range(1, self.max_stages + 1)))
        stages = []
        for i in range(1, self.max_stages + 1):
            with hp.conditional_scope("stages", list(range(i, self.max_stages + 1))):
                row = (hp.Choice(f"stage{i}_filters", self.filters), hp.Choice(f"stage{i}_kernel", self.kernel_sizes),
                       hp.Choice(f"stage{i}_block", self.block_types))
            if i <= count:
                stages.append(row)
        return {"stages": tuple(stages), "dense_units": hp.Choice("dense_units", self.dense_units)}

    def describe(self, hp):
        """What `hp` chooses: {"architecture": one line, "builder_kwargs": the stage table and dense width (JSON)}."""
        kwargs = self.builder_kwargs(hp)
        arguments = {"stages": [list(row) for row in kwargs["stages"]], "dense_units": kwargs["dense_units"]}
        return {"architecture": describe_architecture(kwargs), "builder_kwargs": arguments}

    def build(self, hp):
        model = nas_cnn(input_shape=self.input_shape, num_classes=self.num_classes, **self.builder_kwargs(hp))
        model.compile(optimizer=self.optimizer_fn(), loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      jit_compile=self.jit_compile, steps_per_execution=self.steps_per_execution)
        return model


def describe_architecture(kwargs):
    """One line for `nas_cnn` keyword arguments: "16x3x3 plain | 32x5x5 residual | dense 64"."""
    rows = [f"{f}x{k}x{k} {block}" for f, k, block in kwargs["stages"]]
    return " | ".join(rows + [f"dense {kwargs['dense_units']}" if kwargs["dense_units"] else "no dense"])
