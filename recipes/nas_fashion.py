"""nas-fashion: neural architecture search on Fashion-MNIST, by regularized evolution and by REINFORCE.

Each search (Real et al. 2019's aging evolution, Zoph & Le 2017's REINFORCE
controller; both keras-tuner Oracles in kerarch.nas) proposes `trials`
architectures from the `nas_cnn` space: 1 to `max_stages` stages, each with
its filters, kernel size (3/5) and block type (plain, residual,
depthwise-separable), and the width of the dense layer. Every candidate
trains for `epochs` epochs on a `train_examples` subset (with the optimizer
the config names: `optimizer=`, `learning_rate=`, `schedule=`, ...) and is
scored by its validation accuracy. keras-tuner keeps the trials under
<run>/search/<strategy>/, so an interrupted run (`kerarch run nas-fashion`
again) continues at the trial it stopped in.

The architecture with the best validation accuracy is then measured on the
whole test set against LeNet-5 and simple_cnn trained with the same budget,
drawn per trial in search.png, listed in search.json, and exported.
"""

import dataclasses
import time

import keras
import keras_tuner
import numpy as np

from kerarch.config import RecipeConfig, option
from kerarch.data import load_image_classification, make_dataset, scale_images
from kerarch.data.splits import split_validation
from kerarch.errors import KerarchError
from kerarch.io import read_json, write_json
from kerarch.nas import (CnnSearchSpace, NasTuner, RegularizedEvolutionOracle, ReinforceOracle, describe_architecture,
                         search_history)
from kerarch.nas.plots import plot_search
from kerarch.nas.space import BLOCK_TYPES, SHORT_RUN_BN_MOMENTUM
from kerarch.frame import Recipe, register_recipe
from kerarch.training.callbacks import progress_verbosity
from kerarch.vision import lenet5, simple_cnn

STRATEGIES = ("evolution", "reinforce")
BASELINES = {"lenet5": lenet5, "simple_cnn": simple_cnn}


@dataclasses.dataclass
class NasFashionConfig(RecipeConfig):
    epochs: int = option(2, "Training epochs of every candidate architecture and of each baseline.", minimum=1)
    batch_size: int = option(64, "Global batch size, split across replicas.", minimum=1)
    dataset: str = option("fashion_mnist", "fashion_mnist, or mnist (falls back to Fashion-MNIST offline).",
                          choices=("fashion_mnist", "mnist"))
    search: str = option("both", "Search strategy: evolution (regularized evolution), reinforce (REINFORCE "
                         "controller) or both, each with `trials` trials.", choices=("evolution", "reinforce", "both"))
    trials: int = option(8, "Architectures each search trains.", minimum=1)
    population_size: int = option(4, "Evolution: population size; the first this many trials are random.", minimum=1)
    sample_size: int = option(2, "Evolution: tournament size (at most population_size).", minimum=1)
    controller_learning_rate: float = option(2.0, "REINFORCE: step size on the controller logits (rewards are "
                                             "validation accuracies in [0, 1]).", minimum=0.0)
    baseline_decay: float = option(0.8, "REINFORCE: weight of the old value in the moving-average reward baseline.",
                                   minimum=0.0)
    max_stages: int = option(3, "Most stages of a candidate (each ends with a 2x2 max-pool).", minimum=1)
    filters: tuple[int, ...] = option((8, 16, 32), "Channel choices of every stage.")
    kernel_sizes: tuple[int, ...] = option((3, 5), "Kernel-size choices of every stage.")
    block_types: tuple[str, ...] = option(BLOCK_TYPES, "Block choices.", choices=BLOCK_TYPES)
    dense_units: tuple[int, ...] = option((0, 32, 64), "Width choices of the dense layer before the classifier "
                                          "(0: none).")
    jit_compile: str = option("false", "XLA: off by default, since it compiles every candidate anew and runs "
                              "depthwise convolutions slowly on CPU (see mobilenet-fashion-int8); auto or true on "
                              "GPUs.", choices=("auto", "true", "false"))
    baselines: tuple[str, ...] = option(tuple(BASELINES), "Hand-designed models trained with the candidates' budget "
                                        "for comparison: lenet5, simple_cnn (empty: none).")
    validation_examples: int = option(2000, "Training examples held out to score the candidates.", minimum=1)
    train_examples: int = option(5000, "Training examples every candidate trains on (0: all).", minimum=0)


@dataclasses.dataclass
class Searches:
    """What build_model hands to train and evaluate: a tuner per strategy, then the best model found."""

    tuners: dict
    best_model: keras.Model = None


@register_recipe("nas-fashion")
class NasFashion(Recipe):
    """Architecture search (regularized evolution, REINFORCE) on Fashion-MNIST vs LeNet-5 and simple_cnn."""

    Config = NasFashionConfig
    retrain_restores = True  # train() reloads its finished searches and baselines

    @property
    def search_strategies(self):
        return STRATEGIES if self.config.search == "both" else (self.config.search,)

    def load_data(self):
        cfg = self.config
        if cfg.sample_size > cfg.population_size:
            raise KerarchError(f"sample_size={cfg.sample_size} exceeds population_size={cfg.population_size}: "
                               "the tournament draws its sample from the population.")
        if not 0.0 <= cfg.baseline_decay < 1.0:
            raise KerarchError(f"baseline_decay must be in [0, 1); got {cfg.baseline_decay}.")
        unknown = set(cfg.baselines) - set(BASELINES)
        if unknown:
            raise KerarchError(f"Unknown baseline(s) {sorted(unknown)}; choose from {', '.join(BASELINES)}.")
        if not (cfg.filters and cfg.kernel_sizes and cfg.block_types and cfg.dense_units):
            raise KerarchError("filters, kernel_sizes, block_types and dense_units each need at least one choice.")
        data = load_image_classification(cfg.dataset, cfg.data_dir)
        return split_validation(data, cfg.validation_examples, cfg.train_examples, cfg.seed)

    def build_model(self, data):
        """The tuners, one per strategy; an existing search folder in the run is reloaded, not overwritten."""
        cfg = self.config
        space = CnnSearchSpace(input_shape=data.input_shape, num_classes=data.num_classes, max_stages=cfg.max_stages,
                               filters=cfg.filters, kernel_sizes=cfg.kernel_sizes, block_types=cfg.block_types,
                               dense_units=cfg.dense_units, optimizer_fn=lambda: self.make_optimizer(data),
                               jit_compile=self.jit_compile)
        tuners = {
            strategy: NasTuner(self.oracle(strategy), space, seed=cfg.seed, directory=self.run.path / "search",
                               project_name=strategy, overwrite=False, distribution_strategy=self.strategy)
            for strategy in self.search_strategies
        }
        return Searches(tuners)

    def oracle(self, strategy):
        cfg = self.config
        objective = keras_tuner.Objective("val_accuracy", direction="max")
        if strategy == "evolution":
            return RegularizedEvolutionOracle(objective, cfg.trials, population_size=cfg.population_size,
                                              sample_size=cfg.sample_size, seed=cfg.seed)
        return ReinforceOracle(objective, cfg.trials, learning_rate=cfg.controller_learning_rate,
                               baseline_decay=cfg.baseline_decay, seed=cfg.seed)

    def datasets(self, data):
        batch = self.config.batch_size
        train = make_dataset(data.x_train, data.y_train, batch_size=batch, shuffle=True, seed=self.config.seed,
                             map_fn=scale_images)
        val = make_dataset(data.x_val, data.y_val, batch_size=batch, map_fn=scale_images)
        return train, val

    def train(self, searches, data):
        """Runs each search to `trials` trials, then the baselines; the run stays resumable until both are done."""
        train_ds, val_ds = self.datasets(data)
        verbose = progress_verbosity(self.config.verbose)
        for tuner in searches.tuners.values():
            tuner.search(train_ds, val_ds, epochs=self.config.epochs, verbose=verbose)
        self.train_baselines(data, train_ds, val_ds)

    def train_baselines(self, data, train_ds, val_ds):
        """The `baselines` with the candidates' budget; results kept in baselines.json across resumes."""
        path = self.run.path / "baselines.json"
        results = read_json(path) if path.exists() else {}
        for name in self.config.baselines:
            if name in results:
                continue
            build = BASELINES[name]
            keras.backend.clear_session()
            keras.utils.set_random_seed(self.config.seed)
            with self.strategy.scope():
                model = build(input_shape=data.input_shape, num_classes=data.num_classes)
                for layer in model.layers:
                    if isinstance(layer, keras.layers.BatchNormalization):
                        layer.momentum = SHORT_RUN_BN_MOMENTUM  # as the candidates: the short budget treats all alike
                model.compile(optimizer=self.make_optimizer(data), loss="sparse_categorical_crossentropy",
                              metrics=["accuracy"], jit_compile=self.jit_compile)
            started = time.time()
            history = model.fit(train_ds, validation_data=val_ds, epochs=self.config.epochs,
                                verbose=progress_verbosity(self.config.verbose), shuffle=False)  # tf.data shuffles
            results[name] = {"val_accuracy": history.history["val_accuracy"][-1], "params": model.count_params(),
                             "train_seconds": round(time.time() - started, 1), **self.test_metrics(model, data)}
            write_json(path, results)
        self.baseline_results = results

    def test_metrics(self, model, data):
        test = make_dataset(data.x_test, data.y_test, batch_size=self.config.batch_size, map_fn=scale_images)
        loss, accuracy = model.evaluate(test, verbose=0)
        return {"test_loss": float(loss), "test_accuracy": float(accuracy)}

    def evaluate(self, searches, data):
        """Best architecture of each search on the test set, the overall best (by validation) vs the baselines."""
        results, models = {}, {}
        for strategy, tuner in searches.tuners.items():
            results[strategy], models[strategy] = self.search_result(tuner, data)
        winner = max(results, key=lambda strategy: results[strategy]["val_accuracy"])
        best = results[winner]
        searches.best_model = models[winner]
        metrics = {"dataset": data.name, "test_accuracy": best["test_accuracy"], "test_loss": best["test_loss"],
                   "params": best["params"], "val_accuracy": best["val_accuracy"], "best_search": winner,
                   "best_architecture": best["architecture"]}
        for strategy, result in results.items():
            metrics.update({f"{strategy}_{key}": result[key] for key in ("val_accuracy", "test_accuracy", "params")})
            metrics[f"{strategy}_trials"] = len(result["trials"])
        baselines = self.baseline_results
        for name, result in baselines.items():
            metrics.update({f"{name}_{key}": result[key] for key in ("val_accuracy", "test_accuracy", "params")})
        write_json(self.run.path / "search.json", {"searches": results, "baselines": baselines, "best_search": winner})
        histories = {strategy: [(row["trial"], row["score"]) for row in result["trials"]]
                     for strategy, result in results.items()}
        references = {f"{name} ({result['params']:,} params)": result["val_accuracy"]
                      for name, result in baselines.items()}
        picture = plot_search(histories, self.run.path / "search.png", references=references,
                              title=f"Architecture search on {data.name}: {self.config.epochs} epoch(s) per trial")
        self.run.add_picture(picture, "Validation accuracy per trial and best so far (dashed: baselines, same budget)")
        return metrics

    def search_result(self, tuner, data):
        """(summary of the search and its best trial, the best trial's trained model)."""
        trial = tuner.oracle.get_best_trials(1)[0]
        hp = tuner.oracle.get_space()
        hp.values = dict(trial.hyperparameters.values)
        kwargs = tuner.hypermodel.builder_kwargs(hp)
        model = tuner.load_model(trial)
        result = {"val_accuracy": trial.score, "params": model.count_params(),
                  "architecture": describe_architecture(kwargs),
                  "builder_kwargs": {"stages": [list(row) for row in kwargs["stages"]],
                                     "dense_units": kwargs["dense_units"]},
                  **self.test_metrics(model, data), "trials": search_history(tuner.oracle)}
        return result, model

    def model_to_export(self, model):
        # After a run: the Searches; from `kerarch export`: the exported model.keras itself.
        return model.best_model if isinstance(model, Searches) else model

    def export_inputs(self, data):
        return np.asarray(scale_images(data.x_train[:500])), np.asarray(scale_images(data.x_test)), data.y_test
