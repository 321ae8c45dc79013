"""vanishing-gradients: per-layer gradient norms of a deep MLP, and what batch norm and shortcuts do to them.

A 20-layer MLP with sigmoid activations barely learns: back-propagation
multiplies the gradient by sigmoid' <= 1/4 (and a weight matrix) at every
layer, so the first layers get gradients orders of magnitude smaller than
the last (Hochreiter 1991; Glorot & Bengio 2010). Four variants of the same
depth and width, each from the same seed:

    sigmoid            the plain deep sigmoid MLP
    relu               ReLU, whose derivative is 1 where it is active, with He initialisation (He et al. 2015)
    sigmoid_bn         sigmoid with batch normalisation before each activation (Ioffe & Szegedy 2015)
    sigmoid_residual   sigmoid with identity shortcuts around each layer (He et al. 2016)

For each, the gradient norm of every hidden layer's kernel is measured on
one batch at initialisation (plotted on a log scale against the layer
index), then the network is trained for `epochs` (default 1) with plain SGD,
which does not rescale small gradients as Adam would, and its test accuracy
is reported. The gradients come from `tf.GradientTape` (this recipe, like
every recipe's tf.data pipeline, runs on the TensorFlow backend). Export is
off (nothing here is meant to ship); with `export=true` the last variant is exported.
"""

import dataclasses
import logging

import keras
import numpy as np

from kerarch.config import OPTIMIZERS, RecipeConfig, option
from kerarch.data import load_image_classification, make_dataset, scale_images
from kerarch.data.splits import split_validation
from kerarch.io import write_json
from kerarch.mlp import mlp
from kerarch.frame import Recipe, register_recipe
from kerarch.training.callbacks import progress_verbosity
from kerarch.plots import pyplot, save_figure
from kerarch.training.variants import FinishedVariants

log = logging.getLogger("kerarch")

VARIANTS = {
    "sigmoid": dict(activation="sigmoid"),
    "relu": dict(activation="relu", kernel_initializer="he_normal"),
    # Momentum 0.9: after one epoch, Keras's 0.99 moving variance still holds a few % of its initial 1, which
    # dwarfs the tiny variance of sigmoid outputs and, compounded over 20 layers, leaves inference at chance.
    "sigmoid_bn": dict(activation="sigmoid", batch_norm=True, bn_momentum=0.9),
    "sigmoid_residual": dict(activation="sigmoid", residual=True),
}


@dataclasses.dataclass
class VanishingGradientsConfig(RecipeConfig):
    epochs: int = option(1, "Passes over the training data, for each variant.", minimum=1)
    batch_size: int = option(64, "Global batch size, split across replicas.", minimum=1)
    dataset: str = option("fashion_mnist", "fashion_mnist or mnist (falls back to Fashion-MNIST offline).",
                          choices=("fashion_mnist", "mnist"))
    optimizer: str = option("sgd", "Optimizer (plain SGD shows the vanishing gradients; Adam rescales them).",
                            choices=OPTIMIZERS)
    learning_rate: float = option(0.05, "Peak learning rate.", minimum=0.0)
    depth: int = option(20, "Hidden layers.", minimum=2)
    width: int = option(64, "Units of every hidden layer.", minimum=1)
    variants: tuple[str, ...] = option(tuple(VARIANTS), "Variants to compare.", choices=tuple(VARIANTS))
    gradient_examples: int = option(512, "Training examples in the batch the initial gradients are measured on.",
                                    minimum=1)
    validation_examples: int = option(5000, "Training examples held out (validation accuracy per epoch).", minimum=1)
    train_examples: int = option(0, "Use only this many training examples (0: all the rest).", minimum=0)
    export: bool = option(False, "Export the last variant (off: nothing here is meant to ship).")


@register_recipe("vanishing-gradients")
class VanishingGradients(Recipe):
    """A 20-layer MLP: sigmoid vs ReLU vs sigmoid+BN vs residual; gradient norm per layer and first-epoch accuracy."""

    Config = VanishingGradientsConfig
    retrain_restores = True  # train() reloads its finished variants

    def load_data(self):
        cfg = self.config
        data = load_image_classification(cfg.dataset, cfg.data_dir)
        return split_validation(data, cfg.validation_examples, cfg.train_examples, cfg.seed)

    def variant(self, name, data):
        """The deep MLP of variant `name`, always from the same seed, compiled."""
        cfg = self.config
        keras.utils.set_random_seed(cfg.seed)
        model = mlp(input_shape=data.input_shape, num_classes=data.num_classes, hidden_units=(cfg.width,) * cfg.depth,
                    **VARIANTS[name])
        model.compile(optimizer=self.make_optimizer(data), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"], jit_compile=self.jit_compile)
        return model

    def build_model(self, data):
        return self.variant(self.config.variants[-1], data)

    def train(self, model, data):
        cfg = self.config
        train = make_dataset(data.x_train, data.y_train, batch_size=cfg.batch_size, shuffle=True, seed=cfg.seed,
                             map_fn=scale_images)
        val = make_dataset(data.x_val, data.y_val, batch_size=cfg.batch_size, map_fn=scale_images)
        x = np.asarray(scale_images(data.x_train[: cfg.gradient_examples]))
        y = data.y_train[: cfg.gradient_examples]
        finished = FinishedVariants(self.run)
        self.models, self.norms, self.histories = {}, {}, {}
        for name in cfg.variants:
            if name == cfg.variants[-1]:
                network = model
            else:
                with self.strategy.scope():
                    network = self.variant(name, data)
            record = finished.restore(name, network)
            if record is None:
                norms = layer_gradient_norms(network, x, y, depth=cfg.depth)
                log.info("%s: initial gradient norm %.3g at layer 1, %.3g at layer %d", name, norms[0], norms[-1],
                         cfg.depth)
                history = network.fit(train, validation_data=val, epochs=cfg.epochs,
                                      steps_per_epoch=cfg.steps_per_epoch, verbose=progress_verbosity(cfg.verbose),
                                      shuffle=False)  # tf.data shuffles
                record = {"gradient_norms": norms, "history": history.history}
                finished.save(name, network, record)
            else:
                log.info("%s: trained before the interruption, weights restored", name)
            self.models[name], self.histories[name] = network, record["history"]
            self.norms[name] = record["gradient_norms"]
        write_json(self.run.path / "gradients.json", {"gradient_norms": self.norms, "histories": self.histories})

    def evaluate(self, model, data):
        test = make_dataset(data.x_test, data.y_test, batch_size=256, map_fn=scale_images)
        metrics = {"dataset": data.name, "depth": self.config.depth}
        for name, network in self.models.items():
            first, last = self.norms[name][0], self.norms[name][-1]
            metrics[f"{name}_grad_norm_layer1"] = first
            metrics[f"{name}_grad_norm_layer{self.config.depth}"] = last
            metrics[f"{name}_grad_ratio_first_to_last"] = first / last
            metrics[f"{name}_test_accuracy"] = float(network.evaluate(test, verbose=0)[1])
        self.draw(metrics)
        return metrics

    def draw(self, metrics):
        plt = pyplot()
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [2, 1]})
        layers = np.arange(1, self.config.depth + 1)
        for name, norms in self.norms.items():
            left.plot(layers, norms, "-o", markersize=3, label=name)
        left.set_yscale("log")
        left.set_xlabel("hidden layer (1 = next to the input)")
        left.set_ylabel("gradient norm of the kernel")
        left.set_title(f"Gradients at initialisation ({self.config.gradient_examples} examples)")
        left.set_xticks(layers)
        left.grid(alpha=0.3, which="both")
        left.legend(fontsize=8)
        names = list(self.models)
        accuracies = [metrics[f"{name}_test_accuracy"] for name in names]
        bars = right.bar(range(len(names)), accuracies, color=[f"C{i}" for i in range(len(names))])
        right.bar_label(bars, labels=[f"{a:.1%}" for a in accuracies], fontsize=8)
        right.set_xticks(range(len(names)), names, rotation=20, fontsize=8)
        right.set_ylim(0, 1)
        right.set_title(f"Test accuracy after {self.config.epochs} epoch(s)")
        fig.tight_layout()
        path = self.run.path / "gradient_norms.png"
        save_figure(fig, path)
        self.run.add_picture(path, f"Per-layer gradient norms at initialisation and accuracy after training "
                                   f"({self.config.depth} hidden layers of {self.config.width})")

    def export_inputs(self, data):
        return np.asarray(scale_images(data.x_train[:500])), np.asarray(scale_images(data.x_test)), data.y_test


def layer_gradient_norms(model, x, y, *, depth):
    """L2 norms of the loss gradient for the kernels of dense1 .. dense<depth>, on one batch (training mode)."""
    import tensorflow as tf

    kernels = [model.get_layer(f"dense{i}").kernel for i in range(1, depth + 1)]
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=True))
    gradients = tape.gradient(loss, [kernel.value for kernel in kernels])
    return [float(tf.norm(g)) for g in gradients]
