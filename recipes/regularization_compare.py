"""regularization-compare: overfitting 1,000 Fashion-MNIST images, and five ways to fight it.

An MLP trained on `train_examples` images memorises them; the same network, budget and seed with no
regularization, dropout (Srivastava et al. 2014), decoupled weight decay (Loshchilov & Hutter 2019), batch norm
(Ioffe & Szegedy 2015) or shift-and-flip augmentation. Reported per variant: accuracy on the training images (in
inference mode), on the test set and their gap, a bar chart and the per-epoch curves (export=true: the best).
"""

import dataclasses

from kerarch.config import option
from kerarch.data.augment import pad_crop_flip
from kerarch.frame import Comparison, register_recipe
from kerarch.frame.comparison import ComparisonConfig
from kerarch.mlp import mlp
from kerarch.plots import plot_variants

VARIANTS = ("none", "dropout", "weight_decay", "batch_norm", "augment")
EVAL_BATCH = 256


@dataclasses.dataclass
class RegularizationCompareConfig(ComparisonConfig):
    epochs: int = option(40, "Passes over the training subset, for each variant.", minimum=1)
    batch_size: int = option(32, "Global batch size, split across replicas.", minimum=1)
    train_examples: int = option(1000, "Training examples: few, so that the network can memorise them.", minimum=1)
    validation_examples: int = option(2000, "Other training examples for the validation curves.", minimum=1)
    variants: tuple[str, ...] = option(VARIANTS, "Variants to compare.", choices=VARIANTS)
    hidden_units: tuple[int, ...] = option((512, 256), "Hidden widths of the MLP.")
    dropout: float = option(0.5, "Dropout rate of the dropout variant.", minimum=0.0)
    decay: float = option(0.5, "Decoupled weight decay of the weight_decay variant (per step, times the "
                          "learning rate).", minimum=0.0)
    shift: int = option(3, "Largest random translation of the augment variant, in pixels.", minimum=0)


@register_recipe("regularization-compare")
class RegularizationCompare(Comparison):
    """None vs dropout vs weight decay vs batch norm vs augmentation on 1,000 images: train/test accuracy and gap."""

    Config = RegularizationCompareConfig
    seeded_variants = True
    best_by = "test_accuracy"
    curve_panels = {"accuracy (train: running, in training mode)": ("accuracy", "val_accuracy"),
                    "validation loss": ("val_loss",)}
    curves_picture = ("regularization_curves.png", "Per-epoch curves of every variant")

    @property
    def main_variant(self):
        return self.config.variants[0]

    def build_variant(self, name, model, data):
        """The MLP of variant `name`, compiled."""
        cfg = self.config
        network = mlp(input_shape=data.input_shape, num_classes=data.num_classes, hidden_units=cfg.hidden_units,
                      batch_norm=name == "batch_norm", dropout=cfg.dropout if name == "dropout" else 0.0)
        decay = cfg.decay if name == "weight_decay" else cfg.weight_decay
        return self.compile(network, data, optimizer=self.make_optimizer(data, weight_decay=decay))

    def variant_datasets(self, name, data):
        augment = pad_crop_flip(pad=self.config.shift, flip=True) if name == "augment" else None
        return (self.images(data.x_train, data.y_train, shuffle=True, augment_fn=augment),
                self.images(data.x_val, data.y_val, batch_size=EVAL_BATCH))

    def evaluate_variant(self, name, model, data):
        train, test = (float(model.evaluate(self.images(x, y, batch_size=EVAL_BATCH), verbose=0)[1])
                       for x, y in ((data.x_train, data.y_train), (data.x_test, data.y_test)))
        return {"train_accuracy": train, "test_accuracy": test, "gap": train - test}

    def draw(self, metrics, data):
        bars = {f"{name}\ngap {metrics[f'{name}_gap']:.1%}": {f"{split} accuracy": metrics[f"{name}_{split}_accuracy"]
                                                              for split in ("train", "test")} for name in self.models}
        title = f"{metrics['train_examples']:,} training images: training vs test accuracy"
        path = plot_variants(self.run.path / "regularization.png", [{"title": title, "bars": bars}])
        self.run.add_picture(path, "Training (inference mode) and test accuracy per variant, and their gap")
        super().draw(metrics, data)
