"""perceptron-xor: a perceptron fails on XOR and on two moons, a small MLP solves both.

Minsky & Papert's argument, measured: the `perceptron` draws one straight decision boundary, the `mlp` bends it
around XOR's four Gaussian clusters and two interleaved half-moons (generated: kerarch.data.points). The report
has the four test accuracies and decision boundaries, 2x2 panels; the XOR MLP is exported.
"""

import dataclasses
import functools
import logging

from kerarch.config import ACTIVATIONS, RecipeConfig, option
from kerarch.data.points import xor_and_moons
from kerarch.frame import Comparison, register_recipe
from kerarch.mlp import mlp, perceptron
from kerarch.plots import plot_decision_boundaries

log = logging.getLogger("kerarch")


@dataclasses.dataclass
class PerceptronXorConfig(RecipeConfig):
    epochs: int = option(100, "Passes over the training points (each model).", minimum=1)
    batch_size: int = option(32, "Global batch size, split across replicas.", minimum=1)
    learning_rate: float = option(0.01, "Peak learning rate of all four models.", minimum=0.0)
    samples: int = option(400, "Training points per dataset (as many test points).", minimum=4)
    xor_spread: float = option(0.35, "Standard deviation of each XOR cluster around its corner (±1, ±1).",
                               minimum=0.0)
    moons_noise: float = option(0.15, "make_moons noise (standard deviation of the added Gaussian).", minimum=0.0)
    hidden_units: tuple[int, ...] = option((16, 16), "Hidden widths of the MLP.")
    activation: str = option("relu", "Hidden activation of the MLP.", choices=ACTIVATIONS)


@register_recipe("perceptron-xor")
class PerceptronXor(Comparison):
    """Perceptron vs MLP on XOR and two moons: test accuracies and decision boundaries side by side."""

    Config = PerceptronXorConfig
    loss = "binary_crossentropy"
    variant_names = ("xor_perceptron", "xor_mlp", "moons_perceptron", "moons_mlp")  # <dataset>_<model>
    main_variant = "xor_mlp"  # build_model's model, the exported one

    def load_data(self):
        cfg = self.config
        return xor_and_moons(cfg.samples, xor_spread=cfg.xor_spread, moons_noise=cfg.moons_noise, seed=cfg.seed)

    def build_variant(self, name, model, data):
        if name.endswith("_perceptron"):
            return self.compile(perceptron(input_shape=(2,)), data)
        return self.compile(mlp(input_shape=(2,), num_classes=2, hidden_units=self.config.hidden_units,
                                activation=self.config.activation), data)

    def variant_models(self, model, data):
        return list(super().variant_models(model, data))  # all four built (seeded in this order) before any trains

    def fit_variant(self, name, model, data):
        # 100 epochs of 13 steps: a line per epoch would drown the log, so one line per model.
        history = model.fit(*data.train(name.split("_")[0]), epochs=self.config.epochs,
                            batch_size=self.config.batch_size, verbose=0, shuffle=True)
        log.info("%s: final training accuracy %.3f", name, history.history["accuracy"][-1])
        return {"history": history.history}

    def shared_metrics(self, data):
        return {}

    def evaluate_variant(self, name, model, data):
        return {"accuracy": float(model.evaluate(*data.test(name.split("_")[0]), verbose=0)[1])}

    def draw(self, metrics, data):
        panels = [(f"{kind} on {dataset}: test accuracy {metrics[f'{dataset}_{kind}_accuracy']:.1%}",
                   functools.partial(self.models[f"{dataset}_{kind}"].predict, batch_size=4096, verbose=0),
                   *data.test(dataset)) for dataset, kind in (name.split("_") for name in self.variant_names)]
        path = plot_decision_boundaries([panels[:2], panels[2:]], self.run.path / "decision_boundaries.png")
        self.run.add_picture(path, "Decision boundaries (P(class 1), black line at 0.5) with the test points")

    def export_inputs(self, data):
        return (data.x_train, *data.test("xor"))
