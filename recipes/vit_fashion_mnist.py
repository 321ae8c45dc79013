"""vit-fashion-mnist: a small Vision Transformer (Dosovitskiy et al. 2021) trained from scratch on Fashion-MNIST.

ViTs lack the convolutions' locality prior, so on small data they need what
DeiT (Touvron et al. 2021) and "How to train your ViT" (Steiner et al. 2022)
found: data augmentation (here random translation by pad-and-crop and
horizontal flips, in tf.data), AdamW with decoupled weight decay (not on
biases, norms or embeddings), a linear warmup then cosine decay, label
smoothing and gradient clipping. Small patches (4x4 on 28x28: 49 tokens)
keep the sequence informative.

The default model (dim 64, 6 blocks, 4 heads, MLP 128; about 0.2M
parameters) fits a 2-core CPU; `variant=ti` uses the `vit` builder's ViT-Ti
(5.4M parameters) instead. The default run: 85.64 % test accuracy after 20
epochs on a 2-core CPU (README, "Measured results").
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from kerarch.config import OPTIMIZERS, SCHEDULES, RecipeConfig, option
from kerarch.data import load_image_classification, make_dataset, scale_images
from kerarch.data.augment import pad_crop_flip
from kerarch.data.splits import split_validation
from kerarch.errors import KerarchError
from kerarch.frame import Recipe, register_recipe
from kerarch.training.pruning import Prunable, PruningOptions
from kerarch.vision import vit

# Kept out of AdamW's weight decay (substrings of variable names).
_NO_DECAY = ["bias", "gamma", "beta", "class_token", "position_embedding"]


@dataclasses.dataclass
class VitFashionMnistConfig(PruningOptions, RecipeConfig):
    epochs: int = option(20, "Passes over the training data (the default run: 85.64 % test accuracy).",
                         minimum=1)
    batch_size: int = option(128, "Global batch size, split across replicas.", minimum=1)
    dataset: str = option("fashion_mnist", "fashion_mnist, or mnist (falls back to Fashion-MNIST offline).",
                          choices=("fashion_mnist", "mnist"))
    variant: str = option("custom", "custom: the sizes below; ti, s, b: the paper's ViT-Ti/S/B sizes with "
                          "patch_size.", choices=("custom", "ti", "s", "b"))
    patch_size: int = option(4, "Patch side in pixels; must divide 28 (4: 7x7 = 49 tokens).", minimum=1)
    hidden_dim: int = option(64, "Token width D (custom variant).", minimum=1)
    depth: int = option(6, "Encoder blocks (custom variant).", minimum=1)
    num_heads: int = option(4, "Attention heads; must divide hidden_dim (custom variant).", minimum=1)
    mlp_dim: int = option(128, "Hidden width of each block's MLP (custom variant).", minimum=1)
    dropout: float = option(0.0, "Dropout on embeddings, attention output and MLPs.", minimum=0.0)
    optimizer: str = option("adamw", "Optimizer (DeiT: AdamW).", choices=OPTIMIZERS)
    learning_rate: float = option(1e-3, "Peak learning rate.", minimum=0.0)
    weight_decay: float = option(0.05, "Decoupled weight decay (DeiT: 0.05); not on biases, norms, embeddings.",
                                 minimum=0.0)
    schedule: str = option("warmup_cosine", "Learning-rate schedule.",
                           choices=SCHEDULES)
    warmup_epochs: float = option(2.0, "Linear learning-rate warmup before the cosine decay, in epochs.", minimum=0.0)
    clipnorm: float = option(1.0, "Clip the global gradient norm to this (0: off).", minimum=0.0)
    label_smoothing: float = option(0.1, "Label smoothing of the cross-entropy targets (DeiT: 0.1).", minimum=0.0)
    augment: bool = option(True, "Random translation (pad and crop) and horizontal flips in tf.data.")
    pad: int = option(3, "Maximum translation in pixels (zero padding per side before the random crop).", minimum=0)
    validation_examples: int = option(5000, "Training examples held out for validation (best checkpoint).", minimum=1)
    train_examples: int = option(0, "Use only this many training examples (0: all); for quick runs.", minimum=0)

    def __post_init__(self):
        if self.variant == "custom" and self.hidden_dim % self.num_heads:
            raise KerarchError(f"hidden_dim={self.hidden_dim} must be divisible by num_heads={self.num_heads}.")
        super().__post_init__()


@register_recipe("vit-fashion-mnist")
class VitFashionMnist(Prunable, Recipe):
    """Small ViT from scratch on Fashion-MNIST: patch 4, augmentation, AdamW warmup+cosine, label smoothing."""

    Config = VitFashionMnistConfig
    monitor = "val_accuracy"

    def load_data(self):
        cfg = self.config
        data = load_image_classification(cfg.dataset, cfg.data_dir)
        return split_validation(data, cfg.validation_examples, cfg.train_examples, cfg.seed)

    def build_model(self, data):
        cfg = self.config
        height, width = data.input_shape[:2]
        if height % cfg.patch_size or width % cfg.patch_size:
            raise KerarchError(f"patch_size={cfg.patch_size} must divide the {height}x{width} images.")
        sizes = {}
        if cfg.variant == "custom":
            sizes = dict(hidden_dim=cfg.hidden_dim, num_layers=cfg.depth, num_heads=cfg.num_heads, mlp_dim=cfg.mlp_dim)
        model = vit(input_shape=data.input_shape, num_classes=data.num_classes,
                    variant="ti" if cfg.variant == "custom" else cfg.variant, patch_size=cfg.patch_size,
                    dropout_rate=cfg.dropout, **sizes)
        optimizer = self.make_optimizer(data, global_clipnorm=True)
        if cfg.weight_decay:
            optimizer.exclude_from_weight_decay(var_names=_NO_DECAY)
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
            metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
            jit_compile=self.jit_compile,
        )
        return model

    def _one_hot(self, data):
        depth = data.num_classes

        def scale_one_hot(image, label):
            return scale_images(image), tf.one_hot(label, depth)

        return scale_one_hot

    def datasets(self, data):
        cfg = self.config
        augment = pad_crop_flip(pad=cfg.pad) if cfg.augment else None
        train = make_dataset(data.x_train, data.y_train, batch_size=cfg.batch_size, shuffle=True, seed=cfg.seed,
                             map_fn=self._one_hot(data), augment_fn=augment)
        val = make_dataset(data.x_val, data.y_val, batch_size=cfg.batch_size, map_fn=self._one_hot(data))
        return train, val

    def evaluate(self, model, data):
        test = make_dataset(data.x_test, data.y_test, batch_size=self.config.batch_size, map_fn=self._one_hot(data))
        loss, accuracy = model.evaluate(test, verbose=0)
        metrics = {"dataset": data.name, "test_loss": float(loss), "test_accuracy": float(accuracy)}
        metrics.update(self.pruning_metrics(model))
        return metrics

    def export_inputs(self, data):
        return np.asarray(scale_images(data.x_train[:500])), np.asarray(scale_images(data.x_test)), data.y_test
