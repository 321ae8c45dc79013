"""vit-fashion-mnist: a small Vision Transformer (Dosovitskiy et al. 2021) trained from scratch on Fashion-MNIST.

Lacking the convolutions' locality prior, a ViT on small data needs what DeiT
(Touvron et al. 2021) and Steiner et al. 2022 found: augmentation, AdamW,
warmup then cosine decay, label smoothing, gradient clipping; 4x4 patches give
49 tokens. The default model fits a 2-core CPU. Measured: README, "Measured results".
"""

import dataclasses

from kerarch.config import OPTIMIZERS, SCHEDULES, option
from kerarch.errors import KerarchError
from kerarch.frame import ImageClassification, register_recipe
from kerarch.frame.image_classification import AugmentOptions, ImageClassificationConfig, LabelSmoothingOptions
from kerarch.training.pruning import Prunable, PruningOptions
from kerarch.vision import vit

_NO_DECAY = ["bias", "gamma", "beta", "class_token", "position_embedding"]  # kept out of AdamW's weight decay


@dataclasses.dataclass
class VitFashionMnistConfig(PruningOptions, LabelSmoothingOptions, AugmentOptions, ImageClassificationConfig):
    epochs: int = option(20, "Passes over the training data (the default run: 85.64 % test accuracy).", minimum=1)
    variant: str = option("custom", "custom: the sizes below; ti, s, b: the paper's ViT-Ti/S/B sizes.",
                          choices=("custom", "ti", "s", "b"))
    patch_size: int = option(4, "Patch side in pixels; must divide 28 (4: 7x7 = 49 tokens).", minimum=1)
    hidden_dim: int = option(64, "Token width D (custom variant).", minimum=1)
    depth: int = option(6, "Encoder blocks (custom variant).", minimum=1)
    num_heads: int = option(4, "Attention heads; must divide hidden_dim (custom variant).", minimum=1)
    mlp_dim: int = option(128, "Hidden width of each block's MLP (custom variant).", minimum=1)
    dropout: float = option(0.0, "Dropout on embeddings, attention output and MLPs.", minimum=0.0)
    optimizer: str = option("adamw", "Optimizer (DeiT: AdamW).", choices=OPTIMIZERS)
    weight_decay: float = option(0.05, "Weight decay (DeiT: 0.05), not on biases, norms, embeddings.", minimum=0.0)
    schedule: str = option("warmup_cosine", "Learning-rate schedule.", choices=SCHEDULES)
    warmup_epochs: float = option(2.0, "Linear learning-rate warmup before the cosine decay, in epochs.", minimum=0.0)
    clipnorm: float = option(1.0, "Clip the global gradient norm to this (0: off).", minimum=0.0)
    pad: int = option(3, "Maximum translation in pixels (zero padding per side before the random crop).", minimum=0)

    def __post_init__(self):
        if self.variant == "custom" and self.hidden_dim % self.num_heads:
            raise KerarchError(f"hidden_dim={self.hidden_dim} must be divisible by num_heads={self.num_heads}.")
        super().__post_init__()


@register_recipe("vit-fashion-mnist")
class VitFashionMnist(Prunable, ImageClassification):
    """Small ViT from scratch on Fashion-MNIST: patch 4, augmentation, AdamW warmup+cosine, label smoothing."""

    Config = VitFashionMnistConfig

    def build_model(self, data):
        cfg = self.config
        height, width = data.input_shape[:2]
        if height % cfg.patch_size or width % cfg.patch_size:
            raise KerarchError(f"patch_size={cfg.patch_size} must divide the {height}x{width} images.")
        custom = cfg.variant == "custom"
        sizes = dict(hidden_dim=cfg.hidden_dim, num_layers=cfg.depth, num_heads=cfg.num_heads, mlp_dim=cfg.mlp_dim)
        model = vit(input_shape=data.input_shape, num_classes=data.num_classes, variant="ti" if custom else cfg.variant,
                    patch_size=cfg.patch_size, dropout_rate=cfg.dropout, **(sizes if custom else {}))
        optimizer = self.make_optimizer(data, global_clipnorm=True)
        if cfg.weight_decay:
            optimizer.exclude_from_weight_decay(var_names=_NO_DECAY)
        return self.compile(model, data, optimizer=optimizer)
