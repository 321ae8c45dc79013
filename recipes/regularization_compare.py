"""regularization-compare: overfitting 1,000 Fashion-MNIST images, and five ways to fight it.

An MLP (the registered `mlp`) trained on only `train_examples` images
memorises them: training accuracy runs to 100 % while test accuracy
stalls. (A small global-average-pooled CNN does not even memorise 1,000
images in this budget, measured: 70 % training accuracy after 40 epochs,
so it shows no gap to close.) The same network and budget, each from
the same seed, with:

    none          no regularization
    dropout       dropout after every hidden layer (Srivastava et al. 2014), rate `dropout`
    weight_decay  decoupled weight decay `decay` in the optimizer (Loshchilov & Hutter 2019)
    batch_norm    batch normalisation before every hidden activation (Ioffe & Szegedy 2015)
    augment       random translations by up to `shift` pixels and horizontal flips, in tf.data

Reported per variant: accuracy on the training images (in inference mode,
so dropout and augmentation do not hide the memorisation), on the whole
test set, and the gap between the two; a bar chart, and the per-epoch
training and validation curves overlaid. Export is off by default (the
product is the comparison); with `export=true` the variant with the best
test accuracy is exported.
"""

import dataclasses
import logging

import keras
import numpy as np

from kerarch.config import RecipeConfig, option
from kerarch.data import load_image_classification, make_dataset, scale_images
from kerarch.data.augment import pad_crop_flip
from kerarch.data.splits import split_validation
from kerarch.io import write_json
from kerarch.frame import Recipe, register_recipe
from kerarch.training.callbacks import progress_verbosity
from kerarch.plots import pyplot, save_figure
from kerarch.mlp import mlp
from kerarch.training.variants import FinishedVariants

log = logging.getLogger("kerarch")

VARIANTS = ("none", "dropout", "weight_decay", "batch_norm", "augment")


@dataclasses.dataclass
class RegularizationCompareConfig(RecipeConfig):
    epochs: int = option(40, "Passes over the training subset, for each variant.", minimum=1)
    batch_size: int = option(32, "Global batch size, split across replicas.", minimum=1)
    dataset: str = option("fashion_mnist", "fashion_mnist or mnist (falls back to Fashion-MNIST offline).",
                          choices=("fashion_mnist", "mnist"))
    train_examples: int = option(1000, "Training examples: few, so that the network can memorise them.", minimum=1)
    validation_examples: int = option(2000, "Other training examples for the per-epoch validation curves.",
                                      minimum=1)
    variants: tuple[str, ...] = option(VARIANTS, "Variants to compare.", choices=VARIANTS)
    hidden_units: tuple[int, ...] = option((512, 256), "Hidden widths of the MLP.")
    dropout: float = option(0.5, "Dropout rate of the dropout variant.", minimum=0.0)
    decay: float = option(0.5, "Decoupled weight decay of the weight_decay variant (per step, times the "
                          "learning rate).", minimum=0.0)
    shift: int = option(3, "Largest random translation of the augment variant, in pixels.", minimum=0)
    export: bool = option(False, "Export the variant with the best test accuracy (off: the product is the comparison).")


@register_recipe("regularization-compare")
class RegularizationCompare(Recipe):
    """None vs dropout vs weight decay vs batch norm vs augmentation on 1,000 images: train/test accuracy and gap."""

    Config = RegularizationCompareConfig
    retrain_restores = True  # train() reloads its finished variants

    def load_data(self):
        cfg = self.config
        data = load_image_classification(cfg.dataset, cfg.data_dir)
        return split_validation(data, cfg.validation_examples, cfg.train_examples, cfg.seed)

    def variant(self, name, data):
        """The MLP of variant `name`, from the same seed as every other, compiled."""
        cfg = self.config
        keras.utils.set_random_seed(cfg.seed)
        model = mlp(input_shape=data.input_shape, num_classes=data.num_classes, hidden_units=cfg.hidden_units,
                    batch_norm=name == "batch_norm", dropout=cfg.dropout if name == "dropout" else 0.0)
        decay = cfg.decay if name == "weight_decay" else cfg.weight_decay
        model.compile(optimizer=self.make_optimizer(data, weight_decay=decay), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"], jit_compile=self.jit_compile)
        return model

    def build_model(self, data):
        return self.variant(self.config.variants[0], data)

    def train(self, model, data):
        cfg = self.config
        val = make_dataset(data.x_val, data.y_val, batch_size=256, map_fn=scale_images)
        finished = FinishedVariants(self.run)
        self.models, self.histories = {}, {}
        for name in cfg.variants:
            if name == cfg.variants[0]:
                network = model
            else:
                with self.strategy.scope():
                    network = self.variant(name, data)
            record = finished.restore(name, network)
            if record is None:
                augment = pad_crop_flip(pad=cfg.shift, flip=True) if name == "augment" else None
                train = make_dataset(data.x_train, data.y_train, batch_size=cfg.batch_size, shuffle=True,
                                     seed=cfg.seed, map_fn=scale_images, augment_fn=augment)
                log.info("Training variant %s", name)
                history = network.fit(train, validation_data=val, epochs=cfg.epochs,
                                      steps_per_epoch=cfg.steps_per_epoch, verbose=progress_verbosity(cfg.verbose),
                                      shuffle=False)  # tf.data shuffles
                record = {"history": history.history}
                finished.save(name, network, record)
            else:
                log.info("Variant %s: trained before the interruption, weights restored", name)
            self.models[name], self.histories[name] = network, record["history"]
        write_json(self.run.path / "histories.json", self.histories)

    def evaluate(self, model, data):
        train = make_dataset(data.x_train, data.y_train, batch_size=256, map_fn=scale_images)
        test = make_dataset(data.x_test, data.y_test, batch_size=256, map_fn=scale_images)
        metrics = {"dataset": data.name, "train_examples": len(data.x_train)}
        for name, network in self.models.items():
            train_accuracy = float(network.evaluate(train, verbose=0)[1])
            test_accuracy = float(network.evaluate(test, verbose=0)[1])
            metrics.update({f"{name}_train_accuracy": train_accuracy, f"{name}_test_accuracy": test_accuracy,
                            f"{name}_gap": train_accuracy - test_accuracy})
        self.best = max(self.models, key=lambda name: metrics[f"{name}_test_accuracy"])
        metrics["best_variant"] = self.best
        self.draw_bars(metrics)
        self.draw_curves()
        return metrics

    def draw_bars(self, metrics):
        plt = pyplot()
        names = list(self.models)
        positions = np.arange(len(names))
        fig, ax = plt.subplots(figsize=(8, 4.2))
        for offset, split in ((-0.2, "train"), (0.2, "test")):
            values = [metrics[f"{name}_{split}_accuracy"] for name in names]
            bars = ax.bar(positions + offset, values, width=0.4, label=f"{split} accuracy")
            ax.bar_label(bars, labels=[f"{v:.1%}" for v in values], fontsize=7)
        for x, name in zip(positions, names):
            ax.annotate(f"gap {metrics[f'{name}_gap']:.1%}", (x, 0.03), ha="center", fontsize=8, color="white")
        ax.set_xticks(positions, names)
        ax.set_ylim(0, 1.18)
        ax.set_title(f"{metrics['train_examples']:,} training images: training vs test accuracy")
        ax.legend(fontsize=8, loc="upper center", ncol=2)
        fig.tight_layout()
        path = self.run.path / "regularization.png"
        save_figure(fig, path)
        self.run.add_picture(path, "Training (inference mode) and test accuracy per variant, and their gap")

    def draw_curves(self):
        plt = pyplot()
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
        for i, (name, history) in enumerate(self.histories.items()):
            epochs = np.arange(1, len(history["loss"]) + 1)
            left.plot(epochs, history["accuracy"], "-", color=f"C{i}", label=f"{name} train")
            left.plot(epochs, history["val_accuracy"], "--", color=f"C{i}", label=f"{name} validation")
            right.plot(epochs, history["val_loss"], "-", color=f"C{i}", label=name)
        left.set_title("accuracy (train: running, in training mode)")
        right.set_title("validation loss")
        right.set_yscale("log")
        for ax in (left, right):
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
        left.legend(fontsize=7, ncol=2)
        right.legend(fontsize=7)
        fig.tight_layout()
        path = self.run.path / "regularization_curves.png"
        save_figure(fig, path)
        self.run.add_picture(path, "Per-epoch curves of every variant")

    def model_to_export(self, model):
        return self.models[self.best]

    def export_inputs(self, data):
        return np.asarray(scale_images(data.x_train[:500])), np.asarray(scale_images(data.x_test)), data.y_test
