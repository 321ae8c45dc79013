"""optimizer-compare: one network, one budget, five optimizers on Fashion-MNIST.

The same MLP, from the same initial weights, is trained on the same
Fashion-MNIST subset for the same number of epochs with plain SGD, SGD with
momentum, RMSprop, Adam and AdamW. Each gets the learning rate it is
usually run with rather than one shared rate, since their steps differ in
scale: SGD 0.1; momentum 0.01 (with momentum 0.9 its steady-state step is
0.01 / (1 - 0.9) = 0.1, SGD's); RMSprop, Adam and AdamW 1e-3 (the defaults
of Hinton's lecture 6e and of Kingma & Ba). AdamW is Adam with decoupled
weight decay (Loshchilov & Hutter 2019). `optimizers=` and `learning_rates=`
change the line-up; the shared keys `schedule=`, `warmup_epochs=`,
`momentum=`, `clipnorm=`, `clipvalue=` and `weight_decay=` apply to every
optimizer (`adamw_weight_decay=` to AdamW instead of `weight_decay=`).

The report overlays the training-loss, validation-loss and
validation-accuracy curves of all runs, and lists each optimizer's test
accuracy and loss. Export is off by default (the product is the
comparison); with `export=true` the network of the best optimizer is exported.
"""

import dataclasses
import logging

import keras
import numpy as np

from kerarch.config import OPTIMIZERS, RecipeConfig, option
from kerarch.data import load_image_classification, make_dataset, scale_images
from kerarch.data.splits import split_validation
from kerarch.errors import KerarchError
from kerarch.io import write_json
from kerarch.mlp import mlp
from kerarch.frame import Recipe, register_recipe
from kerarch.training.callbacks import progress_verbosity
from kerarch.training.optim import describe_optimizer
from kerarch.plots import pyplot, save_figure
from kerarch.training.variants import FinishedVariants

log = logging.getLogger("kerarch")


@dataclasses.dataclass
class OptimizerCompareConfig(RecipeConfig):
    epochs: int = option(8, "Passes over the training subset, for each optimizer.", minimum=1)
    batch_size: int = option(128, "Global batch size, split across replicas.", minimum=1)
    dataset: str = option("fashion_mnist", "fashion_mnist or mnist (falls back to Fashion-MNIST offline).",
                          choices=("fashion_mnist", "mnist"))
    optimizer: str = option("adam", "Not used here: `optimizers=` names the compared optimizers.",
                            choices=OPTIMIZERS)
    learning_rate: float = option(1e-3, "Not used here: `learning_rates=` gives one per optimizer.", minimum=0.0)
    optimizers: tuple[str, ...] = option(("sgd", "momentum", "rmsprop", "adam", "adamw"),
                                         "Optimizers to compare (kerarch.training.optim names).", choices=OPTIMIZERS)
    learning_rates: tuple[float, ...] = option((0.1, 0.01, 1e-3, 1e-3, 1e-3),
                                               "Learning rate of each optimizer, in the order of `optimizers`.")
    adamw_weight_decay: float = option(0.01, "Decoupled weight decay of adamw.", minimum=0.0)
    hidden_units: tuple[int, ...] = option((256, 128), "Hidden widths of the MLP.")
    validation_examples: int = option(5000, "Training examples held out for the validation curves.", minimum=1)
    train_examples: int = option(20000, "Training examples used (0: all the rest).", minimum=0)
    export: bool = option(False, "Export the network of the best optimizer (off: the product is the comparison).")


@register_recipe("optimizer-compare")
class OptimizerCompare(Recipe):
    """SGD, momentum, RMSprop, Adam and AdamW on the same MLP and budget: overlaid curves and test accuracies."""

    Config = OptimizerCompareConfig
    retrain_restores = True  # train() reloads its finished variants

    def load_data(self):
        cfg = self.config
        if len(cfg.learning_rates) != len(cfg.optimizers):
            raise KerarchError(
                f"learning_rates= must give one rate for each of optimizers=; got "
                f"optimizers={','.join(cfg.optimizers)} and learning_rates={','.join(map(str, cfg.learning_rates))}.")
        data = load_image_classification(cfg.dataset, cfg.data_dir)
        return split_validation(data, cfg.validation_examples, cfg.train_examples, cfg.seed)

    def build_model(self, data):
        return mlp(input_shape=data.input_shape, num_classes=data.num_classes, hidden_units=self.config.hidden_units)

    def optimizer_named(self, data, name, learning_rate):
        """The shared optimizer construction (`Recipe.make_optimizer`: schedule, clipping, ...) for `name`."""
        weight_decay = self.config.adamw_weight_decay if name == "adamw" else self.config.weight_decay
        return self.make_optimizer(data, optimizer=name, learning_rate=learning_rate, weight_decay=weight_decay)

    def train(self, model, data):
        """Trains a copy of `model` (same initial weights) with each optimizer."""
        cfg = self.config
        batch = cfg.batch_size
        train = make_dataset(data.x_train, data.y_train, batch_size=batch, shuffle=True, seed=cfg.seed,
                             map_fn=scale_images)
        val = make_dataset(data.x_val, data.y_val, batch_size=batch, map_fn=scale_images)
        initial = model.get_weights()
        finished = FinishedVariants(self.run)
        self.models, self.histories, self.optimizers = {}, {}, {}
        self.rates = dict(zip(cfg.optimizers, cfg.learning_rates))
        for name, rate in zip(cfg.optimizers, cfg.learning_rates):
            with self.strategy.scope():
                network = keras.models.clone_model(model)
                network.set_weights(initial)
                network.compile(optimizer=self.optimizer_named(data, name, rate),
                                loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                                jit_compile=self.jit_compile)
            record = finished.restore(name, network)
            if record is None:
                log.info("Training with %s (learning rate %g)", name, rate)
                history = network.fit(train, validation_data=val, epochs=cfg.epochs,
                                      steps_per_epoch=cfg.steps_per_epoch, verbose=progress_verbosity(cfg.verbose),
                                      shuffle=False)  # tf.data shuffles
                record = {"history": history.history, "optimizer": describe_optimizer(network.optimizer)}
                finished.save(name, network, record)
            else:
                log.info("%s: trained before the interruption, weights restored", name)
            self.models[name], self.histories[name] = network, record["history"]
            self.optimizers[name] = record["optimizer"]
        write_json(self.run.path / "histories.json", {"histories": self.histories, "optimizers": self.optimizers})

    def evaluate(self, model, data):
        test = make_dataset(data.x_test, data.y_test, batch_size=self.config.batch_size, map_fn=scale_images)
        metrics = {"dataset": data.name, "train_examples": len(data.x_train)}
        for name, network in self.models.items():
            loss, accuracy = network.evaluate(test, verbose=0)
            metrics.update({f"{name}_test_accuracy": float(accuracy), f"{name}_test_loss": float(loss),
                            f"{name}_final_train_loss": float(self.histories[name]["loss"][-1])})
        self.best = max(self.models, key=lambda name: metrics[f"{name}_test_accuracy"])
        metrics["best_optimizer"] = self.best
        self.draw_curves()
        return metrics

    def draw_curves(self):
        plt = pyplot()
        panels = (("loss", "training loss"), ("val_loss", "validation loss"), ("val_accuracy", "validation accuracy"))
        fig, axes = plt.subplots(1, len(panels), figsize=(13, 3.8))
        for ax, (key, title) in zip(axes, panels):
            for name, history in self.histories.items():
                epochs = np.arange(1, len(history[key]) + 1)
                ax.plot(epochs, history[key], "-o", markersize=3, label=f"{name} (lr {self.rates[name]:g})")
            ax.set_title(title)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            if "loss" in key:
                ax.set_yscale("log")
        axes[-1].legend(fontsize=8)
        fig.tight_layout()
        path = self.run.path / "optimizers.png"
        save_figure(fig, path)
        self.run.add_picture(path, "The same MLP from the same initial weights, one curve per optimizer")

    def model_to_export(self, model):
        return self.models[self.best]

    def export_inputs(self, data):
        return np.asarray(scale_images(data.x_train[:500])), np.asarray(scale_images(data.x_test)), data.y_test
