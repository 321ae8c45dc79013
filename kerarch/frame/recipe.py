"""Recipes: data → model → train → evaluate → export, composing builders.

A recipe is a `Recipe` subclass (usually of one of the recipe kinds in
`kerarch.frame`) in a recipe package, registered under its kebab-case name:

    @register_recipe("lenet-mnist")
    class LenetMnist(Recipe):
        "LeNet-5 on MNIST."
        Config = LenetMnistConfig
        def load_data(self): ...
        def build_model(self, data): ...       # runs inside strategy.scope()
        def datasets(self, data): ...          # (train, validation) tf.data
        def evaluate(self, model, data): ...   # {metric: value}
        def export_inputs(self, data): ...     # samples for export checks
"""

import logging
import os
import time

import keras

from kerarch.config import RecipeConfig, from_dict, parse_overrides, to_dict
from kerarch.errors import KerarchError
from kerarch.index import first_sentence
from kerarch.registry import RECIPES
from kerarch.training.callbacks import build_optimizers, default_callbacks, progress_verbosity
from kerarch.training.distribute import (
    describe_strategy, exportable_copy, fix_multi_worker_fit, is_chief, make_strategy, set_precision,
)
from kerarch.io import atomic_path
from kerarch.training.run import Run, export_rows
from kerarch.training.optim import describe_loss, describe_optimizer, make_optimizer, make_schedule
from kerarch.training.schedules import train_steps
from kerarch.plots import plot_schedules

log = logging.getLogger("kerarch")


def register_recipe(name):
    """Registers a Recipe subclass under its command-line name."""

    def decorator(cls):
        cls.name = name
        return RECIPES.register(name)(cls)

    return decorator


def get_recipe(name):
    """The recipe class registered as `name` (the registry imports the recipe packages on first use)."""
    return RECIPES.get(name)


class Recipe:
    """Base class: the steps of a recipe and a default `train` and `export`."""

    name = None
    Config = RecipeConfig
    monitor = "val_loss"
    task = "classification"
    #: What `compile` passes to Keras unless a call says otherwise.
    loss = None
    metrics = None
    #: True where `train` keeps its own results (finished variants, a search) and, run again, only reloads them.
    retrain_restores = False
    #: True to evaluate and export the best checkpoint (by `monitor`) instead of the last epoch's weights.
    keep_best = False
    #: True where XLA measurably trains this recipe faster on a CPU too (benchmarks/recipe_defaults.py):
    #: then `jit_compile=auto` compiles with XLA whenever training runs on one device.
    xla_on_cpu = False

    def __init__(self, config, run, strategy):
        self.config = config
        self.run = run
        self.strategy = strategy

    @classmethod
    def description(cls):
        """The docstring's first sentence (what `kerarch list` shows)."""
        return first_sentence(cls.__doc__)

    # --- steps a recipe defines -------------------------------------------------
    def load_data(self):
        raise NotImplementedError

    def build_model(self, data):
        raise NotImplementedError

    def datasets(self, data):
        raise NotImplementedError

    def evaluate(self, model, data):
        raise NotImplementedError

    def export_inputs(self, data):
        """(representative training inputs, held-out inputs, held-out labels or None)."""
        raise NotImplementedError

    # --- steps with defaults ----------------------------------------------------
    @property
    def jit_compile(self):
        """The config's `jit_compile`; "auto" is Keras' choice (no XLA on a CPU or with tf.distribute), or XLA
        for a recipe whose `xla_on_cpu` says it trains faster with it, on one device."""
        setting = self.config.jit_compile
        if setting == "auto":
            return True if self.xla_on_cpu and self.strategy.num_replicas_in_sync == 1 else "auto"
        return setting == "true"

    def num_train_examples(self, data):
        """Examples in one pass over the training data; recipes whose data has no `x_train` override it."""
        return len(data.x_train)

    def train_steps(self, data):
        """Optimizer steps of the whole run (for schedules)."""
        cfg = self.config
        return train_steps(num_examples=self.num_train_examples(data), batch_size=cfg.batch_size, epochs=cfg.epochs,
                           steps_per_epoch=cfg.steps_per_epoch)

    def make_optimizer(self, data, *, total_steps=None, **overrides):
        """The optimizer the config names (`optimizer=`, `learning_rate=`, `schedule=`, ...), for `train_steps(data)`.

        `total_steps` sizes the schedule for another training than the recipe's main one (e.g. a baseline).
        `overrides` replace config values for this call (e.g. `optimizer="sgd"`, `global_clipnorm=True`,
        `beta_1=0.5`).
        """
        cfg = self.config
        name = overrides.pop("optimizer", cfg.optimizer)
        total = total_steps or (self.train_steps(data) if cfg.schedule != "constant" else 1)
        options = dict(learning_rate=cfg.learning_rate, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                       clipnorm=cfg.clipnorm, clipvalue=cfg.clipvalue)
        options.update(overrides)
        warmup = round(cfg.warmup_epochs * total / cfg.epochs)
        options["learning_rate"] = make_schedule(cfg.schedule, options["learning_rate"], total_steps=total,
                                                 warmup_steps=warmup)
        return make_optimizer(name, **options)

    def compile(self, model, data, **options):
        """Compiles `model` with the recipe's optimizer, `loss` and `metrics` and the config's `jit_compile` and
        `steps_per_execution`.

        `options` replace or add `model.compile` arguments (e.g. `loss=`, `optimizer=`, a GAN's `g_optimizer=`).
        """
        options.setdefault("jit_compile", self.jit_compile)
        options.setdefault("steps_per_execution", self.config.steps_per_execution)
        if not any(key.endswith("optimizer") for key in options):
            options["optimizer"] = self.make_optimizer(data)
        if self.loss is not None:
            options.setdefault("loss", self.loss)
        if self.metrics is not None:
            options.setdefault("metrics", list(self.metrics))
        model.compile(**options)
        return model

    def callbacks(self, model, data):
        return default_callbacks(self.run.path, monitor=self.monitor, backup=True, best=self.run.chief)

    def train(self, model, data):
        history = self.fit(model, data)
        best = self.run.path / "checkpoints" / "best.keras"
        if self.keep_best and best.exists():
            from kerarch.model_files import load_model_file

            model.set_weights(load_model_file(best).get_weights())
            log.info("Keeping the best checkpoint by %s: %s.", self.monitor, best)
        return history

    def fit(self, model, data):
        train_ds, val_ds = self.datasets(data)
        fix_multi_worker_fit(model, self.strategy)
        return model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=self.config.epochs,
            steps_per_epoch=self.config.steps_per_epoch,
            callbacks=self.callbacks(model, data),
            verbose=progress_verbosity(self.config.verbose),
            shuffle=False,  # tf.data shuffles
        )

    def save_trained(self, model):
        """Records the trained model (weights and optimizer state) in the run folder: the run's own model."""
        if self.retrain_restores:
            return
        with atomic_path(self.run.trained_weights) as tmp:
            os.remove(tmp)  # Keras refuses to overwrite an existing file.
            model.save_weights(tmp)

    def restore_trained(self, model, data):
        """Brings a freshly built `model` to its recorded trained state (a resumed or re-exported run)."""
        if self.retrain_restores:
            self.train(model, data)
            return
        with self.strategy.scope():
            build_optimizers(model)
            model.load_weights(self.run.trained_weights)

    def model_to_export(self, model):
        return model

    def text_endpoint(self, data):
        """A kerarch.export.TextEndpoint when the export should also serve raw strings (text models); else None."""
        return None

    def export(self, model, data):
        # Under MultiWorkerMirroredStrategy the chief exports alone: a copy free of the strategy's collectives.
        return self.export_trained(exportable_copy(self.model_to_export(model), self.strategy), data)

    def export_trained(self, model, data, formats=None):
        """Exports an already unwrapped model to saved_models/<recipe>/<run-id>/ and verifies it."""
        from kerarch.export import export_model

        representative, inputs, labels = self.export_inputs(data)
        report = export_model(
            model,
            self.run.export_dir,
            quantize=self.config.quantize,
            int8_granularity=self.config.int8_granularity,
            representative_data=representative,
            eval_inputs=inputs,
            eval_labels=labels,
            task=self.task,
            owner=self.run.identity,
            formats=formats,
            text_endpoint=self.text_endpoint(data),
        )
        report["dir"] = str(self.run.export_dir)
        return report


def run_recipe(name, overrides=(), *, base_config=None):
    """Runs recipe `name` with `key=value` overrides; returns its summary dict.

    The run goes trained → evaluated → exported → finished, each phase recorded
    in the run folder as it completes; the same command after a kill (or a
    failure) continues from the first unfinished phase.
    """
    recipe_cls = get_recipe(name)
    config = parse_overrides(recipe_cls.Config, overrides, base=base_config)
    strategy = make_strategy(config.strategy, devices=config.devices)
    set_precision(config.precision)
    keras.utils.set_random_seed(config.seed)

    with Run.open(name, to_dict(config), run_dir=config.run_dir, resume=config.resume, overrides=overrides,
                  chief=is_chief(strategy)) as run:
        handler = _log_to(run.path / "log.txt")
        try:
            return _run_phases(recipe_cls(config, run, strategy))
        except BaseException as error:
            run.fail(error)
            raise
        finally:
            logging.getLogger("kerarch").removeHandler(handler)
            handler.close()


def _run_phases(recipe):
    run, config, strategy = recipe.run, recipe.config, recipe.strategy
    log.info("Recipe %s → %s", recipe.name, run.path)
    started = time.time()
    try:
        data = recipe.load_data()
    except KerarchError:
        run.discard()  # no data, no run: leave no empty run folder behind
        raise
    source = getattr(data, "source", "generated by the recipe")
    log.info("Data: %s", source)
    run.write_config(strategy=describe_strategy(strategy), data_source=source, data_notice=getattr(data, "notice", None))
    with strategy.scope():
        model = recipe.build_model(data)
    run.write_config(training=describe_training(model))
    if run.done("trained"):
        log.info("Training finished before: restoring the trained model.")
        recipe.restore_trained(model, data)
    else:
        recipe.train(model, data)
        schedule = plot_schedules(_optimizers(model), run.path / "learning_rate.png", epochs=config.epochs)
        if schedule:
            run.add_picture(schedule, "Learning-rate schedule")
        recipe.save_trained(model)
        run.complete("trained")
    if not run.done("evaluated"):
        metrics = recipe.evaluate(model, data)
        metrics["train_wall_time_s"] = round(time.time() - started, 1)
        run.complete("evaluated", metrics=metrics)
    metrics = dict(run.state["metrics"])
    export = None
    if config.export and run.chief:
        if not run.done("exported"):
            run.complete("exported", export=recipe.export(model, data))
        export = run.state["export"]
        metrics.update(export.get("metrics", {}))  # measured on the exported files, e.g. latency
    summary = run.finish(
        metrics=metrics, export=export, description=recipe.description(), optimizer_iterations=optimizer_iterations(model)
    )
    _print_summary(summary)
    return summary


def describe_training(model):
    """The resolved optimizer(s) and loss of a compiled model, for config.json and the report."""
    return {
        "optimizers": {name: describe_optimizer(value) for name, value in _optimizers(model).items()},
        "loss": describe_loss(getattr(model, "loss", None)),
    }


def _optimizers(model):
    return {name: value for name, value in vars(model).items() if isinstance(value, keras.optimizers.Optimizer)}


def optimizer_iterations(model):
    """{attribute: steps taken} for every optimizer the model holds (one, or a GAN's two)."""
    return {name: int(keras.ops.convert_to_numpy(value.iterations)) for name, value in _optimizers(model).items()}


def _log_to(path):
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("kerarch").addHandler(handler)
    return handler


def _print_summary(summary):
    print(f"\n{summary['recipe']} finished in {summary['wall_time_s']} s")
    for key, value in summary["metrics"].items():
        print(f"  {key}: {value:.4f}" if isinstance(value, float) else f"  {key}: {value}")
    print(f"  run folder: {summary['run_dir']}")
    print(f"  report:     {summary['artifacts']['report']}")
    for picture in summary["artifacts"]["pictures"]:
        print(f"  picture:    {picture}")
    if "export" in summary:
        print(f"  exported:   {summary['export']['dir']}")
        for path, size, check in export_rows(summary["export"]):
            print(f"    {path:24s} {size:>11,} bytes  {check}")


# Keys `kerarch export` accepts: what to export, and where the representative data is.
_EXPORT_KEYS = ("format", "quantize", "int8_granularity", "data_dir")


def reexport(run_dir, overrides=()):
    """Exports a run's own trained model again, e.g. `format=tflite quantize=int8`; returns the export report.

    `format=` is a comma-separated subset of keras, saved_model, tflite (default: all).
    The export goes to the run's own export folder, never to another run's.
    """
    for pair in overrides:
        if pair.partition("=")[0] not in _EXPORT_KEYS:
            raise KerarchError(f"kerarch export accepts only {', '.join(k + '=' for k in _EXPORT_KEYS)}; got {pair!r}.")
    formats = [f for pair in overrides if pair.startswith("format=") for f in pair[7:].split(",") if f] or None
    overrides = [pair for pair in overrides if not pair.startswith("format=")]
    with Run.reopen(run_dir) as run:
        recipe_cls = get_recipe(run.recipe)
        config = parse_overrides(recipe_cls.Config, overrides, base=from_dict(recipe_cls.Config, run.config))
        run.config = to_dict(config)
        recipe = recipe_cls(config, run, make_strategy("default"))
        data = recipe.load_data()
        report = recipe.export_trained(_exportable_model(recipe, data), data, formats=formats)
    print(f"Re-exported {run_dir} → {report['dir']}")
    return report


def _exportable_model(recipe, data):
    """The run's own model: its recorded trained weights, else its own export's model.keras, else its best checkpoint."""
    from kerarch.export import export_owner
    from kerarch.model_files import load_model_file

    run = recipe.run
    if run.trained_weights.exists():
        model = recipe.build_model(data)
        recipe.restore_trained(model, data)
        return recipe.model_to_export(model)
    exported = run.export_dir / "model.keras"
    if exported.exists() and export_owner(run.export_dir) == run.identity:
        return load_model_file(exported)
    best = run.path / "checkpoints" / "best.keras"
    if best.exists():
        return recipe.model_to_export(load_model_file(best))
    raise KerarchError(f"No trained model to export in {run.path}: the run has not finished training.")
