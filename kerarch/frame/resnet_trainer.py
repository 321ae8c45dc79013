"""The CIFAR-ResNet trainer (He et al. 2016, section 4.2) of resnet-cifar10 and resnet-fashion-mnist.

SGD with momentum, the paper's L2 weight decay on the kernels, warmup +
cosine or the paper's step schedule, pad-crop-flip augmentation in tf.data,
mixed precision when a GPU is visible; `prune=` adds magnitude pruning.

Reference:
    He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.
"""

import dataclasses

import keras
import tensorflow as tf

from kerarch.config import OPTIMIZERS, SCHEDULES, option
from kerarch.errors import KerarchError
from kerarch.frame.image_classification import AugmentOptions, ImageClassification, ImageClassificationConfig
from kerarch.training.pruning import Prunable, PruningOptions
from kerarch.vision.resnet import build_cifar_resnet

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


def auto_precision(precision):
    """"auto" -> mixed_float16 when TensorFlow sees a GPU, else float32; other values unchanged."""
    if precision != "auto":
        return precision
    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32"


def add_kernel_l2(model, weight_decay):
    """L2 weight decay on every Conv/Dense kernel: adds weight_decay / 2 * ||w||^2 to the loss.

    So the gradient gains weight_decay * w, the paper's (Caffe's) weight decay.
    BatchNorm parameters and biases are not decayed.
    """
    regularizer = keras.regularizers.L2(weight_decay / 2.0)
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            layer.kernel.regularizer = regularizer


@dataclasses.dataclass
class ResnetConfig(PruningOptions, AugmentOptions, ImageClassificationConfig):
    """Keys of the CIFAR-ResNet trainer (resnet-cifar10, resnet-fashion-mnist)."""

    epochs: int = option(30, "Passes over the training data (paper: 164 with schedule=step).", minimum=1)
    batch_size: int = option(128, "Global batch size, split across replicas (paper: 128).", minimum=1)
    precision: str = option(
        "auto", "Keras dtype policy; auto is mixed_float16 when a GPU is visible, else float32.", choices=PRECISIONS
    )
    depth: int = option(20, "ResNet depth 6n+2: 20, 32, 44, 56, 110 (paper's CIFAR nets).", minimum=8)
    shortcut: str = option("a", "Shortcut where the shape changes: a (zero-pad identity, paper's CIFAR choice) or "
                           "b (1x1 projection).", choices=("a", "b"))
    optimizer: str = option("momentum", "Optimizer (paper: SGD with momentum).", choices=OPTIMIZERS)
    learning_rate: float = option(0.1, "Peak learning rate (paper: 0.1 at batch 128).", minimum=0.0)
    momentum: float = option(0.9, "SGD momentum (paper: 0.9).", minimum=0.0)
    kernel_l2: float = option(1e-4, "The paper's weight decay: L2 on the conv and dense kernels, through the "
                              "momentum as in Caffe (paper: 1e-4). weight_decay= is the optimizer's decoupled "
                              "decay instead.", minimum=0.0)
    schedule: str = option("warmup_cosine", "warmup_cosine: linear warmup then cosine decay to 0; step: /10 at 50 % "
                           "and 75 % of the steps (the paper's 32k and 48k of 64k).", choices=SCHEDULES)
    warmup_epochs: float = option(1.0, "Linear learning-rate warmup, in epochs (warmup_cosine, linear).", minimum=0.0)
    augment: bool = option(True, "Pad-crop-flip augmentation in tf.data (paper: 4-pixel pad, random crop, flip).")
    validation_examples: int = option(5000, "Training examples held out for validation and the best checkpoint "
                                      "(paper: 5k of 50k).", minimum=1)

    def __post_init__(self):
        if (self.depth - 2) % 6:
            raise KerarchError(f"Value {self.depth} for 'depth' must be 6n+2 (20, 32, 44, 56, 110, ...).")
        self.precision = auto_precision(self.precision)
        super().__post_init__()


class ResnetTrainer(Prunable, ImageClassification):
    """CIFAR-style ResNet trainer; a recipe gives its `Config` (a `ResnetConfig`) and, for other data, `load_images`."""

    Config = ResnetConfig

    def build_model(self, data):
        cfg = self.config
        model = build_cifar_resnet(depth=cfg.depth, input_shape=data.input_shape, num_classes=data.num_classes,
                                   shortcut=cfg.shortcut)
        if cfg.kernel_l2:
            add_kernel_l2(model, cfg.kernel_l2)
        return self.compile(model, data)
