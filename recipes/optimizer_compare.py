"""optimizer-compare: one network, one budget, five optimizers on Fashion-MNIST.

The same MLP from the same initial weights trained with SGD, momentum, RMSprop, Adam and AdamW (Loshchilov & Hutter
2019), each at its usual learning rate: overlaid loss and accuracy curves, each optimizer's test accuracy and loss.
"""

import dataclasses

from kerarch.config import OPTIMIZERS, option
from kerarch.frame import Comparison, register_recipe
from kerarch.frame.comparison import ComparisonConfig
from kerarch.mlp import mlp
from kerarch.training.optim import describe_optimizer


@dataclasses.dataclass
class OptimizerCompareConfig(ComparisonConfig):
    epochs: int = option(8, "Passes over the training subset, for each optimizer.", minimum=1)
    optimizer: str = option("adam", "Not used here: `optimizers=` names the compared optimizers.", choices=OPTIMIZERS)
    learning_rate: float = option(1e-3, "Not used here: `learning_rates=` gives one per optimizer.", minimum=0.0)
    optimizers: tuple[str, ...] = option(("sgd", "momentum", "rmsprop", "adam", "adamw"),
                                         "Optimizers to compare (kerarch.training.optim names).", choices=OPTIMIZERS)
    learning_rates: tuple[float, ...] = option((0.1, 0.01, 1e-3, 1e-3, 1e-3),
                                               "Learning rate of each optimizer, in the order of `optimizers`.")
    adamw_weight_decay: float = option(0.01, "Decoupled weight decay of adamw.", minimum=0.0)
    hidden_units: tuple[int, ...] = option((256, 128), "Hidden widths of the MLP.")
    train_examples: int = option(20000, "Training examples used (0: all the rest).", minimum=0)


@register_recipe("optimizer-compare")
class OptimizerCompare(Comparison):
    """SGD, momentum, RMSprop, Adam and AdamW on the same MLP and budget: overlaid curves and test accuracies."""

    Config = OptimizerCompareConfig
    variants_key, per_variant_keys = "optimizers", ("learning_rates",)
    best_by, best_key = "test_accuracy", "best_optimizer"
    curve_panels = {"training loss": ("loss",), "validation loss": ("val_loss",),
                    "validation accuracy": ("val_accuracy",)}
    curves_picture = ("optimizers.png", "The same MLP from the same initial weights, one curve per optimizer")

    def build_model(self, data):
        """The MLP every optimizer starts from (each trains a copy)."""
        return mlp(input_shape=data.input_shape, num_classes=data.num_classes, hidden_units=self.config.hidden_units)

    def build_variant(self, name, model, data):
        weight_decay = self.config.adamw_weight_decay if name == "adamw" else self.config.weight_decay
        return self.compile(self.copy_of(model), data, optimizer=self.make_optimizer(
            data, optimizer=name, learning_rate=self.per_variant("learning_rates", name), weight_decay=weight_decay))

    def variant_label(self, name):
        return f"{name} (lr {self.per_variant('learning_rates', name):g})"

    def records_json(self):
        optimizers = {name: describe_optimizer(model.optimizer) for name, model in self.models.items()}
        return {"histories": self.histories, "optimizers": optimizers}

    def evaluate_variant(self, name, model, data):
        return {**super().evaluate_variant(name, model, data),
                "final_train_loss": float(self.records[name]["history"]["loss"][-1])}
