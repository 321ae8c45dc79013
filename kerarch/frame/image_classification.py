"""ImageClassification: the recipe kind of the image classifiers (lenet-mnist, the ResNets, vit, mobilenet).

The kind loads `dataset` (or `data_dir`), holds out a seeded validation
share, feeds tf.data with images scaled to [0, 1] (pad-crop-flip augmented
for training where the config has `AugmentOptions`), compiles with sparse
categorical cross-entropy and accuracy (categorical on one-hot targets, with
label smoothing, where the config has `LabelSmoothingOptions`), checkpoints
the best epoch by validation accuracy, reports the test loss and accuracy
(and `extra_metrics`) and exports with training images as the representative
data; where the config has `MobileExportOptions` the export also reports
each .tflite file's accuracy, size and single-image latency.

A recipe says its config defaults and `build_model` (ending in
`self.compile(model, data)`), and overrides `load_images`, `preprocess`,
`targets`, `augmentation` or `extra_metrics` where its data or report differ.
"""

import dataclasses
import logging

import keras
import numpy as np
import tensorflow as tf

from kerarch.config import RecipeConfig, image_dataset_option, option
from kerarch.data import load_image_classification, make_dataset, scale_images
from kerarch.data.augment import pad_crop_flip
from kerarch.data.splits import split_validation
from kerarch.export import tflite_latency
from kerarch.frame.recipe import Recipe
from kerarch.training.pruning import Prunable

log = logging.getLogger("kerarch")


@dataclasses.dataclass
class ImageClassificationConfig(RecipeConfig):
    """Keys of every image classifier: the dataset, the validation share and a training subset."""

    dataset: str = image_dataset_option("fashion_mnist")
    validation_examples: int = option(5000, "Training examples held out for validation (best checkpoint).", minimum=1)
    train_examples: int = option(0, "Use only this many training examples (0: all); for quick runs.", minimum=0)


@dataclasses.dataclass
class AugmentOptions:
    """Pad-crop-flip keys; put it before the kind's config: `class C(AugmentOptions, ImageClassificationConfig)`."""

    augment: bool = option(True, "Random translation (pad and crop) and horizontal flips in tf.data.")
    pad: int = option(4, "Maximum translation in pixels (zero padding per side before the random crop).", minimum=0)


@dataclasses.dataclass
class LabelSmoothingOptions:
    """Label smoothing (Szegedy et al. 2016): one-hot targets and a categorical cross-entropy that smooths them."""

    label_smoothing: float = option(0.1, "Label smoothing of the cross-entropy targets (DeiT: 0.1).", minimum=0.0)


@dataclasses.dataclass
class MobileExportOptions:
    """The mobile numbers of the export: accuracy, bytes and single-image latency of each .tflite file."""

    latency_runs: int = option(200, "Timed single-image invocations per .tflite file (the median is reported).",
                               minimum=1)


class ImageClassification(Recipe):
    """Image classification: scaled images, accuracy on the test set, verified export."""

    Config = ImageClassificationConfig
    monitor = "val_accuracy"

    @property
    def smooths_labels(self):
        """True where the config has `LabelSmoothingOptions`: one-hot targets, categorical loss and accuracy."""
        return isinstance(self.config, LabelSmoothingOptions)

    @property
    def loss(self):
        if self.smooths_labels:
            return keras.losses.CategoricalCrossentropy(label_smoothing=self.config.label_smoothing)
        return "sparse_categorical_crossentropy"

    @property
    def metrics(self):
        return [keras.metrics.CategoricalAccuracy(name="accuracy")] if self.smooths_labels else ["accuracy"]

    def load_images(self):
        """The ImageData of `config.dataset`, or of the copy in `config.data_dir`."""
        return load_image_classification(self.config.dataset, self.config.data_dir)

    def preprocess(self, images):
        """uint8 images -> the model's inputs (here float32 in [0, 1]); in tf.data and on arrays."""
        return scale_images(images)

    def targets(self, labels, data):
        """Integer labels -> what the loss compares the outputs with: the labels, or one-hot for label smoothing."""
        return tf.one_hot(labels, data.num_classes) if self.smooths_labels else labels

    def augmentation(self):
        """The training images' `make_dataset` augment_fn: pad-crop-flip while `augment` is on, else None."""
        cfg = self.config
        return pad_crop_flip(pad=cfg.pad) if isinstance(cfg, AugmentOptions) and cfg.augment else None

    def extra_metrics(self, model, data):
        """Metrics reported beside the test loss and accuracy (here a `Prunable` recipe's pruning numbers)."""
        return self.pruning_metrics(model) if isinstance(self, Prunable) else {}

    def examples(self, data):
        """The tf.data map from (uint8 image, label) to (model input, target)."""

        def example(image, label):
            return self.preprocess(image), self.targets(label, data)

        return example

    def load_data(self):
        cfg = self.config
        return split_validation(self.load_images(), cfg.validation_examples, cfg.train_examples, cfg.seed)

    def datasets(self, data):
        cfg = self.config
        train = make_dataset(data.x_train, data.y_train, batch_size=cfg.batch_size, shuffle=True, seed=cfg.seed,
                             map_fn=self.examples(data), augment_fn=self.augmentation())
        val = make_dataset(data.x_val, data.y_val, batch_size=cfg.batch_size, map_fn=self.examples(data))
        return train, val

    def evaluate(self, model, data):
        test = make_dataset(data.x_test, data.y_test, batch_size=self.config.batch_size, map_fn=self.examples(data))
        loss, accuracy = model.evaluate(test, verbose=0)
        metrics = {"dataset": data.name, "test_loss": float(loss), "test_accuracy": float(accuracy)}
        metrics.update(self.extra_metrics(model, data))
        return metrics

    def export_inputs(self, data):
        return np.asarray(self.preprocess(data.x_train[:500])), np.asarray(self.preprocess(data.x_test)), data.y_test

    def export_trained(self, model, data, formats=None):
        report = super().export_trained(model, data, formats)
        if isinstance(self.config, MobileExportOptions):
            sample = np.asarray(self.preprocess(data.x_test[:1]))
            report["metrics"] = mobile_metrics(report, self.run.export_dir, sample, self.config)
        return report


def mobile_metrics(report, export_dir, sample, config):
    """The mobile numbers of an export `report`, measured on its files in `export_dir`.

    Each .tflite file's median single-image latency on `sample` (the full
    timing also goes into its report entry) and bytes, each format's accuracy
    and, with an int8 file, its accuracy drop in points and its size vs the
    float file; a drop over 1 point with per-tensor int8 scales is warned of.
    """
    metrics = {}
    for key, entry in report["artifacts"].items():
        if key.startswith("tflite"):
            entry["latency"] = tflite_latency(export_dir / entry["path"], sample, runs=config.latency_runs, warmup=20)
            entry["latency_ms"] = entry["latency"]["median_ms"]
            metrics[f"{key}_latency_ms"] = entry["latency_ms"]
            metrics[f"{key}_bytes"] = entry["bytes"]
    for key, value in (report.get("accuracy") or {}).items():
        metrics[f"{key}_accuracy"] = value
    if "tflite_int8" in report["artifacts"]:
        drop = 100 * (metrics["keras_accuracy"] - metrics["tflite_int8_accuracy"])
        metrics["int8_accuracy_drop_points"] = round(drop, 2)
        metrics["int8_size_vs_float"] = report["artifacts"]["tflite_int8"]["size_vs_float"]
        if metrics["int8_accuracy_drop_points"] > 1 and config.int8_granularity == "per_tensor":
            log.warning("int8 costs %.2f accuracy points with per-tensor weight scales; "
                        "int8_granularity=per_channel usually costs less (a larger file).",
                        metrics["int8_accuracy_drop_points"])
    return metrics
