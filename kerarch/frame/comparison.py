"""Comparison: the recipe kind that trains several variants with one budget and sets them side by side.

optimizer-compare, regularization-compare, vanishing-gradients and perceptron-xor are comparisons: each
variant (an optimizer, a regularizer, an activation, a model on a dataset) gets a compiled model of its
own, trained with the same epochs, batch size and seed. A finished variant's weights and record (its
history and what the recipe measured) are kept under <run>/variants/, so an interrupted run retrains only
the unfinished variants, and a finished run, restored, reloads them all (`retrain_restores`). The kind
writes every variant's record to `records_file`, reports `<variant>_<metric>` for each, names the best
variant by `best_by` (the model exported with export=true) and draws the variants' curves overlaid.

By default the data is a named image-classification dataset (`ComparisonConfig`) with a seeded
validation share, fed through tf.data scaled to [0, 1], and each variant is scored on the test set.

A recipe declares its variants (`variant_names`, or `variants_key`, the config key listing them, with
`per_variant_keys` giving one value each), how each is built (`build_variant`, `main_variant`;
`seeded_variants` for one initial draw for all, `copy_of` for copies of a template) and what is its own:
`fit_variant` or `evaluate_variant` where it measures more, `curve_panels`, its pictures in `draw`.
"""

import dataclasses
import logging

import keras
import numpy as np

from kerarch.config import RecipeConfig, image_dataset_option, option
from kerarch.data import load_image_classification, make_dataset, scale_images
from kerarch.data.splits import split_validation
from kerarch.errors import KerarchError
from kerarch.frame.recipe import Recipe
from kerarch.io import write_json
from kerarch.plots import plot_variant_curves
from kerarch.training.callbacks import progress_verbosity
from kerarch.training.variants import FinishedVariants

log = logging.getLogger("kerarch")


@dataclasses.dataclass
class ComparisonConfig(RecipeConfig):
    """Keys of a comparison on a named image-classification dataset (the variants share epochs, batch and seed)."""

    dataset: str = image_dataset_option("fashion_mnist")
    validation_examples: int = option(5000, "Training examples held out for the validation curves.", minimum=1)
    train_examples: int = option(0, "Use only this many training examples (0: all the rest).", minimum=0)
    export: bool = option(False, "Export the chosen variant (the best, or the one the recipe names; off: the product "
                          "is the comparison).")


class Comparison(Recipe):
    """Several variants, one budget: per-variant metrics, overlaid curves, finished variants kept."""

    Config = ComparisonConfig
    loss = "sparse_categorical_crossentropy"
    metrics = ("accuracy",)
    retrain_restores = True  # train() reloads the finished variants
    #: The variant whose model `build_model` returns (trained as that variant); None: a template to build from.
    main_variant = None
    #: The JSON file of the run folder holding every variant's record (see `records_json`).
    records_file = "histories.json"
    #: The per-variant metric that names the best variant (the exported one), and the key of its name.
    best_by = None
    best_key = "best_variant"
    #: The overlaid per-epoch curves, {panel title: history keys} (None: none), and their file and caption.
    curve_panels = None
    curves_picture = ("curves.png", "Per-epoch curves of every variant")
    #: The (train, validation) pair the variants share (see `variant_datasets`), made on first use.
    shared_datasets = None
    #: The config key that lists the variants (see `variant_names`).
    variants_key = "variants"
    #: Config keys that give one value per variant, in the order of `variants_key` (see `per_variant`).
    per_variant_keys = ()
    #: True: each variant's model is built right after `keras.utils.set_random_seed(config.seed)` (one start for all).
    seeded_variants = False

    # --- what a comparison declares ------------------------------------------------
    @property
    def variant_names(self):
        return getattr(self.config, self.variants_key)

    def per_variant(self, key, name):
        """Variant `name`'s value of the per-variant config key `key` (e.g. its learning rate)."""
        return dict(zip(self.variant_names, getattr(self.config, key)))[name]

    def build_variant(self, name, model, data):
        """The compiled model of variant `name`; `model` is what `build_model` returned (e.g. a template)."""
        raise NotImplementedError

    def variant_label(self, name):
        """How the legends name variant `name`."""
        return name

    @staticmethod
    def copy_of(template):
        """A new model with `template`'s architecture and weights: every variant starts from the same point."""
        network = keras.models.clone_model(template)
        network.set_weights(template.get_weights())
        return network

    # --- the kind's steps ----------------------------------------------------------
    def check_per_variant_keys(self):
        """Refuses a `per_variant_keys` list whose length is not the number of variants."""
        for key in self.per_variant_keys:
            values = getattr(self.config, key)
            if len(values) != len(self.variant_names):
                raise KerarchError(
                    f"{key}= must give one value for each of {self.variants_key}=; got {self.variants_key}="
                    f"{','.join(map(str, self.variant_names))} and {key}={','.join(map(str, values))}.")

    def load_data(self):
        cfg = self.config
        self.check_per_variant_keys()
        data = load_image_classification(cfg.dataset, cfg.data_dir)
        return split_validation(data, cfg.validation_examples, cfg.train_examples, cfg.seed)

    def images(self, x, y, *, batch_size=None, shuffle=False, augment_fn=None):
        """tf.data of uint8 images scaled to [0, 1] with their labels (training: `shuffle=True`)."""
        cfg = self.config
        return make_dataset(x, y, batch_size=batch_size or cfg.batch_size, shuffle=shuffle,
                            seed=cfg.seed if shuffle else None, map_fn=scale_images, augment_fn=augment_fn)

    def datasets(self, data):
        return self.images(data.x_train, data.y_train, shuffle=True), self.images(data.x_val, data.y_val)

    def variant_datasets(self, name, data):
        """(train, validation) of variant `name`: by default one pair for all, made on first use.

        Each variant's epochs go on with the shuffled order where the variant before it stopped.
        """
        if self.shared_datasets is None:
            self.shared_datasets = self.datasets(data)
        return self.shared_datasets

    def build_model(self, data):
        """The main variant's model (a comparison without one builds its template here)."""
        return self.variant_model(self.main_variant, None, data)

    def variant_model(self, name, model, data):
        """`build_variant`, from the config's seed where `seeded_variants` says so."""
        if self.seeded_variants:
            keras.utils.set_random_seed(self.config.seed)
        return self.build_variant(name, model, data)

    def variant_models(self, model, data):
        """(name, compiled model) of every variant in turn, each built when its turn comes."""
        for name in self.variant_names:
            if name == self.main_variant:
                yield name, model
                continue
            with self.strategy.scope():
                network = self.variant_model(name, model, data)
            yield name, network

    def fit_variant(self, name, model, data):
        """Trains variant `name`'s model; returns its record (JSON): its history and what the recipe measures."""
        cfg = self.config
        train, val = self.variant_datasets(name, data)
        history = model.fit(train, validation_data=val, epochs=cfg.epochs, steps_per_epoch=cfg.steps_per_epoch,
                            verbose=progress_verbosity(cfg.verbose), shuffle=False)  # tf.data shuffles
        return {"history": history.history}

    def train(self, model, data):
        """Trains every variant, or reloads it where it finished before (e.g. before an interruption)."""
        finished = FinishedVariants(self.run)
        self.models, self.records = {}, {}
        for name, network in self.variant_models(model, data):
            record = finished.restore(name, network)
            if record is None:
                log.info("Training variant %s", name)
                record = self.fit_variant(name, network, data)
                finished.save(name, network, record)
            else:
                log.info("Variant %s: trained before the interruption, weights restored", name)
            self.models[name], self.records[name] = network, record
        write_json(self.run.path / self.records_file, self.records_json())

    def recorded(self, field):
        """{variant: `field` of its record}, e.g. "history"."""
        return {name: record[field] for name, record in self.records.items()}

    @property
    def histories(self):
        return self.recorded("history")

    def records_json(self):
        """What `records_file` holds: here {variant: history}."""
        return self.histories

    def shared_metrics(self, data):
        """The metrics of the whole comparison, reported before the variants'."""
        return {"dataset": data.name, "train_examples": len(data.x_train)}

    def evaluate_variant(self, name, model, data):
        """{metric: value} of variant `name` (reported as `<name>_<metric>`): here its test accuracy and loss."""
        loss, accuracy = model.evaluate(self.images(data.x_test, data.y_test), verbose=0)
        return {"test_accuracy": float(accuracy), "test_loss": float(loss)}

    def evaluate(self, model, data):
        metrics = self.shared_metrics(data)
        for name, network in self.models.items():
            measured = self.evaluate_variant(name, network, data)
            metrics.update({f"{name}_{key}": value for key, value in measured.items()})
        if self.best_by:
            metrics[self.best_key] = max(self.models, key=lambda name: metrics[f"{name}_{self.best_by}"])
        self.draw(metrics, data)
        return metrics

    def draw(self, metrics, data):
        """The run's pictures: here the overlaid curves of `curve_panels`."""
        if self.curve_panels:
            file, caption = self.curves_picture
            labels = {name: self.variant_label(name) for name in self.models}
            path = plot_variant_curves(self.histories, self.run.path / file, panels=self.curve_panels, labels=labels)
            self.run.add_picture(path, caption)

    def model_to_export(self, model):
        """The best variant's model, as the recorded evaluation named it; without `best_by`, `model`."""
        return self.models[self.run.state["metrics"][self.best_key]] if self.best_by else model

    def export_inputs(self, data):
        return np.asarray(scale_images(data.x_train[:500])), np.asarray(scale_images(data.x_test)), data.y_test
