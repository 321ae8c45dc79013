"""nas-fashion: neural architecture search on Fashion-MNIST, by regularized evolution and by REINFORCE.

Real et al. 2019's aging evolution and Zoph & Le 2017's REINFORCE controller (keras-tuner Oracles in kerarch.nas)
each train `trials` `nas_cnn` candidates for `epochs` epochs, scored by validation accuracy, resumable per trial.
The best is measured on the test set against LeNet-5 and simple_cnn trained with the same budget, and exported.
"""

import dataclasses
import time

import keras

from kerarch.config import option
from kerarch.errors import KerarchError
from kerarch.frame import ImageClassification, register_recipe
from kerarch.frame.image_classification import ImageClassificationConfig
from kerarch.io import read_json, write_json
from kerarch.nas import STRATEGIES, CnnSearchSpace, NasTuner, make_oracle, short_run_batch_norm
from kerarch.nas.plots import plot_search
from kerarch.nas.space import BLOCK_TYPES
from kerarch.training.callbacks import progress_verbosity
from kerarch.vision import lenet5, simple_cnn

BASELINES = {"lenet5": lenet5, "simple_cnn": simple_cnn}


@dataclasses.dataclass
class NasFashionConfig(ImageClassificationConfig):
    epochs: int = option(2, "Training epochs of every candidate architecture and of each baseline.", minimum=1)
    batch_size: int = option(64, "Global batch size, split across replicas.", minimum=1)
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
    jit_compile: str = option("false", "XLA: off, since it compiles every candidate anew and runs depthwise "
                              "convolutions slowly on CPU; auto or true on GPUs.", choices=("auto", "true", "false"))
    baselines: tuple[str, ...] = option(tuple(BASELINES), "Hand-designed models trained with the candidates' budget "
                                        "for comparison: lenet5, simple_cnn (empty: none).")
    validation_examples: int = option(2000, "Training examples held out to score the candidates.", minimum=1)
    train_examples: int = option(5000, "Training examples every candidate trains on (0: all).", minimum=0)


class Searches(dict):
    """What build_model hands to train and evaluate: {strategy: its NasTuner}."""


@register_recipe("nas-fashion")
class NasFashion(ImageClassification):
    """Architecture search (regularized evolution, REINFORCE) on Fashion-MNIST vs LeNet-5 and simple_cnn."""

    Config = NasFashionConfig
    retrain_restores = True  # train() reloads its finished searches and baselines

    def load_data(self):
        """The data, the oracles and the search space: a bad setting stops the run before its folder is kept."""
        cfg = self.config
        unknown = set(cfg.baselines) - set(BASELINES)
        if unknown:
            raise KerarchError(f"Unknown baseline(s) {sorted(unknown)}; choose from {', '.join(BASELINES)}.")
        oracles = {strategy: make_oracle(strategy, cfg.trials, population_size=cfg.population_size,
                                         sample_size=cfg.sample_size, learning_rate=cfg.controller_learning_rate,
                                         baseline_decay=cfg.baseline_decay, seed=cfg.seed)
                   for strategy in STRATEGIES}  # both made: each refuses its bad settings, searched or not
        self.oracles = oracles if cfg.search == "both" else {cfg.search: oracles[cfg.search]}
        data = super().load_data()
        self.space = CnnSearchSpace(input_shape=data.input_shape, num_classes=data.num_classes,
                                    max_stages=cfg.max_stages, filters=cfg.filters, kernel_sizes=cfg.kernel_sizes,
                                    block_types=cfg.block_types, dense_units=cfg.dense_units,
                                    optimizer_fn=lambda: self.make_optimizer(data), jit_compile=self.jit_compile,
                                    steps_per_execution=cfg.steps_per_execution)
        return data

    def build_model(self, data):
        """The tuners, one per strategy; an existing search folder in the run is reloaded, not overwritten."""
        return Searches({strategy: NasTuner(oracle, self.space, seed=self.config.seed, project_name=strategy,
                                            directory=self.run.path / "search", overwrite=False,
                                            distribution_strategy=self.strategy)
                         for strategy, oracle in self.oracles.items()})

    def train(self, searches, data):
        """Runs each search to `trials` trials, then the baselines; the run stays resumable until both are done."""
        train_ds, val_ds = self.datasets(data)
        for tuner in searches.values():
            tuner.search(train_ds, val_ds, epochs=self.config.epochs, verbose=progress_verbosity(self.config.verbose))
        self.train_baselines(data, train_ds, val_ds)

    def train_baselines(self, data, train_ds, val_ds):
        """The `baselines` with the candidates' budget; results kept in baselines.json across resumes."""
        path = self.run.path / "baselines.json"
        results = read_json(path) if path.exists() else {}
        for name in (name for name in self.config.baselines if name not in results):
            keras.backend.clear_session()
            keras.utils.set_random_seed(self.config.seed)
            with self.strategy.scope():  # BatchNorm as the candidates': the short budget treats all alike
                model = short_run_batch_norm(BASELINES[name](input_shape=data.input_shape,
                                                             num_classes=data.num_classes))
                self.compile(model, data)
            started = time.time()
            history = model.fit(train_ds, validation_data=val_ds, epochs=self.config.epochs,
                                verbose=progress_verbosity(self.config.verbose), shuffle=False)  # tf.data shuffles
            results[name] = {"val_accuracy": history.history["val_accuracy"][-1], "params": model.count_params(),
                             "train_seconds": round(time.time() - started, 1), **self.test_metrics(model, data)}
            write_json(path, results)
        self.baseline_results = results

    def test_metrics(self, model, data):
        return {key: value for key, value in super().evaluate(model, data).items() if key.startswith("test_")}

    def evaluate(self, searches, data):
        """Best architecture of each search on the test set, the overall best (by validation) vs the baselines."""
        results = {}
        for strategy, tuner in searches.items():
            summary, model = tuner.best_result()
            results[strategy] = {**summary, **self.test_metrics(model, data)}
        winner = max(results, key=lambda strategy: results[strategy]["val_accuracy"])
        best, baselines = results[winner], self.baseline_results
        metrics = {"dataset": data.name, **{key: best[key] for key in ("test_accuracy", "test_loss", "params",
                   "val_accuracy")}, "best_search": winner, "best_architecture": best["architecture"]}
        for name, result in {**results, **baselines}.items():
            metrics.update({f"{name}_{key}": result[key] for key in ("val_accuracy", "test_accuracy", "params")})
            if name in results:
                metrics[f"{name}_trials"] = len(result["trials"])
        write_json(self.run.path / "search.json", {"searches": results, "baselines": baselines, "best_search": winner})
        references = {f"{name} ({row['params']:,} params)": row["val_accuracy"] for name, row in baselines.items()}
        picture = plot_search({strategy: result["trials"] for strategy, result in results.items()},
                              self.run.path / "search.png", references=references,
                              title=f"Architecture search on {data.name}: {self.config.epochs} epoch(s) per trial")
        self.run.add_picture(picture, "Validation accuracy per trial and best so far (dashed: baselines, same budget)")
        return metrics

    def model_to_export(self, model):
        """The best trial of the best search (as the evaluation recorded it); from `kerarch export`, `model` itself."""
        if isinstance(model, Searches):
            return model[self.run.state["metrics"]["best_search"]].best_model()
        return model
