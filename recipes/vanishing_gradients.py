"""vanishing-gradients: per-layer gradient norms of a deep MLP, and what batch norm and shortcuts do to them.

A 20-layer sigmoid MLP, whose gradient shrinks by sigmoid' <= 1/4 per layer (Hochreiter 1991; Glorot & Bengio
2010), against ReLU with He initialisation (He et al. 2015), sigmoid with batch norm (Ioffe & Szegedy 2015) and
with identity shortcuts (He et al. 2016), same depth, width and seed: every hidden layer's gradient norm at
initialisation (log scale) and the test accuracy after `epochs` of plain SGD. Export is off.
"""

import dataclasses
import logging

import numpy as np

from kerarch.config import OPTIMIZERS, option
from kerarch.data import scale_images
from kerarch.frame import Comparison, register_recipe
from kerarch.frame.comparison import ComparisonConfig
from kerarch.frame.metrics import layer_gradient_norms
from kerarch.mlp import mlp
from kerarch.plots import plot_variants

log = logging.getLogger("kerarch")

VARIANTS = {
    "sigmoid": dict(activation="sigmoid"),
    "relu": dict(activation="relu", kernel_initializer="he_normal"),
    # Momentum 0.9: Keras's 0.99 moving variance would still hold a few % of its initial 1 after one epoch.
    "sigmoid_bn": dict(activation="sigmoid", batch_norm=True, bn_momentum=0.9),
    "sigmoid_residual": dict(activation="sigmoid", residual=True),
}


@dataclasses.dataclass
class VanishingGradientsConfig(ComparisonConfig):
    epochs: int = option(1, "Passes over the training data, for each variant.", minimum=1)
    batch_size: int = option(64, "Global batch size, split across replicas.", minimum=1)
    optimizer: str = option("sgd", "Optimizer (plain SGD shows the vanishing gradients; Adam rescales them).",
                            choices=OPTIMIZERS)
    learning_rate: float = option(0.05, "Peak learning rate.", minimum=0.0)
    depth: int = option(20, "Hidden layers.", minimum=2)
    width: int = option(64, "Units of every hidden layer.", minimum=1)
    variants: tuple[str, ...] = option(tuple(VARIANTS), "Variants to compare.", choices=tuple(VARIANTS))
    gradient_examples: int = option(512, "Training examples in the batch the initial gradients are measured on.",
                                    minimum=1)


@register_recipe("vanishing-gradients")
class VanishingGradients(Comparison):
    """A 20-layer MLP: sigmoid vs ReLU vs sigmoid+BN vs residual; gradient norm per layer and first-epoch accuracy."""

    Config = VanishingGradientsConfig
    seeded_variants = True
    records_file = "gradients.json"

    @property
    def main_variant(self):
        return self.config.variants[-1]

    def build_variant(self, name, model, data):
        """The deep MLP of variant `name`, compiled."""
        cfg = self.config
        return self.compile(mlp(input_shape=data.input_shape, num_classes=data.num_classes,
                                hidden_units=(cfg.width,) * cfg.depth, **VARIANTS[name]), data)

    def fit_variant(self, name, model, data):
        """Measures the per-layer gradient norms at initialisation, then trains."""
        cfg = self.config
        x, y = np.asarray(scale_images(data.x_train[: cfg.gradient_examples])), data.y_train[: cfg.gradient_examples]
        norms = layer_gradient_norms(model, x, y, depth=cfg.depth)
        log.info("%s: initial gradient norm %.3g at layer 1, %.3g at layer %d", name, norms[0], norms[-1], cfg.depth)
        return {"gradient_norms": norms, **super().fit_variant(name, model, data)}

    def records_json(self):
        return {"gradient_norms": self.recorded("gradient_norms"), "histories": self.histories}

    def shared_metrics(self, data):
        return {"dataset": data.name, "depth": self.config.depth}

    def evaluate_variant(self, name, model, data):
        norms = self.records[name]["gradient_norms"]
        return {"grad_norm_layer1": norms[0], f"grad_norm_layer{self.config.depth}": norms[-1],
                "grad_ratio_first_to_last": norms[0] / norms[-1],
                "test_accuracy": super().evaluate_variant(name, model, data)["test_accuracy"]}

    def draw(self, metrics, data):
        cfg = self.config
        norms = {"title": f"Gradients at initialisation ({cfg.gradient_examples} examples)", "log": True,
                 "every_x": True,
                 "lines": {name: {name: norms} for name, norms in self.recorded("gradient_norms").items()},
                 "xlabel": "hidden layer (1 = next to the input)", "ylabel": "gradient norm of the kernel"}
        accuracies = {"title": f"Test accuracy after {cfg.epochs} epoch(s)",
                      "bars": {name: {"test accuracy": metrics[f"{name}_test_accuracy"]} for name in self.models}}
        path = plot_variants(self.run.path / "gradient_norms.png", [norms, accuracies], width_ratios=(2, 1))
        self.run.add_picture(path, f"Per-layer gradient norms at initialisation and accuracy after training "
                                   f"({cfg.depth} hidden layers of {cfg.width})")
