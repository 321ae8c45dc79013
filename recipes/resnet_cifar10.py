"""resnet-cifar10: CIFAR ResNet-20/32/44/56/110 (He et al. 2016, section 4.2) on CIFAR-10.

The trainer (`ResnetTrainer`) is shared with resnet-fashion-mnist: SGD with
momentum, L2 weight decay on the kernels, warmup + cosine or the paper's step
schedule, pad-crop-flip augmentation in tf.data, mixed precision when a GPU is
visible.

Expected accuracy. Paper (Table 6, 164 epochs of the step schedule on
45k/5k, 4-pixel pad-crop-flip): ResNet-20 8.75 % error (91.25 %), ResNet-32
92.49 %, ResNet-44 92.83 %, ResNet-56 93.03 %, ResNet-110 93.57 %. Reproduce
the paper's schedule with `epochs=164 schedule=step warmup_epochs=0`
(about 64k steps at batch 128). The default here is a shortened 30-epoch
warmup + cosine run: its accuracy is not measured yet (no CIFAR-10 copy on
the development machine, which is offline).
"""

import dataclasses
import logging

import keras
import numpy as np
import tensorflow as tf

from kerarch.config import OPTIMIZERS, SCHEDULES, RecipeConfig, option
from kerarch.data import make_dataset, scale_images
from kerarch.data.augment import pad_crop_flip
from kerarch.data.cifar import load_cifar10
from kerarch.data.splits import split_validation
from kerarch.errors import KerarchError
from kerarch.frame import Recipe, register_recipe
from kerarch.training.pruning import Prunable, PruningOptions
from kerarch.vision.resnet import build_cifar_resnet

log = logging.getLogger("kerarch")

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
class ResnetConfig(PruningOptions, RecipeConfig):
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
    pad: int = option(4, "Pixels of zero padding per side before the random crop.", minimum=0)
    validation_examples: int = option(5000, "Training examples held out for validation and the best checkpoint "
                                      "(paper: 5k of 50k).", minimum=1)
    train_examples: int = option(0, "Use only this many training examples (0: all); for quick runs.", minimum=0)

    def __post_init__(self):
        if (self.depth - 2) % 6:
            raise KerarchError(f"Value {self.depth} for 'depth' must be 6n+2 (20, 32, 44, 56, 110, ...).")
        self.precision = auto_precision(self.precision)
        super().__post_init__()


@dataclasses.dataclass
class ResnetCifar10Config(ResnetConfig):
    dataset: str = option("cifar10", "CIFAR-10 (resnet-fashion-mnist trains on Fashion-MNIST).", choices=("cifar10",))
    data_dir: str | None = option(
        None, "The cifar-10-batches-py folder (python version of CIFAR-10, extracted from "
        "cifar-10-python.tar.gz); default: Keras cache, TFDS, download."
    )


class ResnetTrainer(Prunable, Recipe):
    """CIFAR-style ResNet trainer; subclasses define `load_images`."""

    monitor = "val_accuracy"

    def load_images(self):
        raise NotImplementedError

    def load_data(self):
        cfg = self.config
        return split_validation(self.load_images(), cfg.validation_examples, cfg.train_examples, cfg.seed)

    def build_model(self, data):
        cfg = self.config
        model = build_cifar_resnet(depth=cfg.depth, input_shape=data.input_shape, num_classes=data.num_classes,
                                   shortcut=cfg.shortcut)
        if cfg.kernel_l2:
            add_kernel_l2(model, cfg.kernel_l2)
        model.compile(
            optimizer=self.make_optimizer(data),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            jit_compile=self.jit_compile,
        )
        return model

    def datasets(self, data):
        cfg = self.config
        augment = pad_crop_flip(pad=cfg.pad) if cfg.augment else None
        train = make_dataset(data.x_train, data.y_train, batch_size=cfg.batch_size, shuffle=True, seed=cfg.seed,
                             map_fn=scale_images, augment_fn=augment)
        val = make_dataset(data.x_val, data.y_val, batch_size=cfg.batch_size, map_fn=scale_images)
        return train, val

    def evaluate(self, model, data):
        test = make_dataset(data.x_test, data.y_test, batch_size=self.config.batch_size, map_fn=scale_images)
        loss, accuracy = model.evaluate(test, verbose=0)
        metrics = {"dataset": data.name, "test_loss": float(loss), "test_accuracy": float(accuracy)}
        metrics.update(self.pruning_metrics(model))
        return metrics

    def export_inputs(self, data):
        return np.asarray(scale_images(data.x_train[:500])), np.asarray(scale_images(data.x_test)), data.y_test


@register_recipe("resnet-cifar10")
class ResnetCifar10(ResnetTrainer):
    """CIFAR ResNet-20 (depth configurable) on CIFAR-10: SGD, pad-crop-flip, warmup+cosine or step schedule."""

    Config = ResnetCifar10Config

    def load_images(self):
        return load_cifar10(self.config.data_dir)
