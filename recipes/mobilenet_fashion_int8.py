"""mobilenet-fashion-int8: MobileNetV2 (Sandler et al. 2018) on Fashion-MNIST, shipped as float and int8 TFLite.

The mobile target: train the depthwise-separable network, then convert it
to full-integer int8 TFLite by post-training quantization (calibrated on
training images) and measure, on the whole test set, what that costs:
accuracy of the Keras model, the float .tflite and the int8 .tflite, file
sizes, and single-image latency of each .tflite with the LiteRT
interpreter on this CPU (one thread, median of `latency_runs`).
`prune=0.5` adds magnitude pruning (kerarch.training.pruning) and reports
per-layer sparsity and gzip-compressed sizes.

Fashion-MNIST images (28x28x1) are zero-padded to `input_size` (32, the
smallest input MobileNetV2 takes) or resized bilinearly to a larger size.
Measured results are in the README ("MobileNet for mobile").
"""

import dataclasses
import logging
import typing

import numpy as np

from kerarch.config import INT8_GRANULARITIES, SCHEDULES, RecipeConfig, option
from kerarch.data import load_image_classification, make_dataset, scale_images
from kerarch.data.augment import fit_images, pad_crop_flip
from kerarch.data.splits import split_validation
from kerarch.export import tflite_latency
from kerarch.frame import Recipe, register_recipe
from kerarch.training.pruning import Prunable, PruningOptions
from kerarch.vision import mobilenet_v2

log = logging.getLogger("kerarch")


@dataclasses.dataclass
class MobilenetFashionInt8Config(PruningOptions, RecipeConfig):
    epochs: int = option(8, "Passes over the training data.", minimum=1)
    batch_size: int = option(128, "Global batch size, split across replicas.", minimum=1)
    dataset: str = option("fashion_mnist", "fashion_mnist, or mnist (falls back to Fashion-MNIST offline).",
                          choices=("fashion_mnist", "mnist"))
    quantize: typing.Optional[str] = option(
        "int8", "Quantized TFLite beside the float one: int8 (full integer, the mobile target), dynamic, float16 "
        "or none.", choices=(None, "dynamic", "float16", "int8"))
    int8_granularity: str = option(
        "per_tensor", "Weight scales of the int8 file: per_tensor (default here: one scale per tensor, 26 % of the "
        "float file at alpha 1.0 with no accuracy drop, measured) or per_channel (TFLite's default, 30.6 %; the "
        "safer choice if the reported drop is large).", choices=INT8_GRANULARITIES)
    jit_compile: str = option("false", "XLA: off by default here, since XLA runs MobileNet's depthwise convolutions "
                              "about 6x slower on CPU (measured); auto or true on GPUs.", choices=("auto", "true", "false"))
    alpha: float = option(1.0, "MobileNetV2 width multiplier (paper: 0.35 to 1.4).", minimum=0.05)
    input_size: int = option(32, "Side of the network input; 28x28 images are padded (32) or resized (larger).",
                             minimum=32)
    bn_momentum: float = option(0.99, "BatchNorm momentum (keras.applications: 0.999, for long ImageNet runs; "
                                "0.99 lets the moving statistics settle within a short run).", minimum=0.0)
    learning_rate: float = option(2e-3, "Peak learning rate (warmup, then cosine decay to 0).", minimum=0.0)
    schedule: str = option("warmup_cosine", "Learning-rate schedule.",
                           choices=SCHEDULES)
    warmup_epochs: float = option(1.0, "Linear learning-rate warmup, in epochs.", minimum=0.0)
    augment: bool = option(True, "Random 2-pixel translation and horizontal flips in tf.data.")
    latency_runs: int = option(200, "Timed single-image invocations per .tflite file (the median is reported).",
                               minimum=1)
    validation_examples: int = option(5000, "Training examples held out for validation (best checkpoint).", minimum=1)
    train_examples: int = option(0, "Use only this many training examples (0: all); for quick runs.", minimum=0)


@register_recipe("mobilenet-fashion-int8")
class MobilenetFashionInt8(Prunable, Recipe):
    """MobileNetV2 on Fashion-MNIST, exported as float and full-integer int8 TFLite with accuracy, size and latency."""

    Config = MobilenetFashionInt8Config
    monitor = "val_accuracy"
    prune_skip = ("predictions",)

    def load_data(self):
        cfg = self.config
        data = load_image_classification(cfg.dataset, cfg.data_dir)
        return split_validation(data, cfg.validation_examples, cfg.train_examples, cfg.seed)

    def preprocess(self, images, labels=None):
        """uint8 (…, 28, 28, 1) -> float32 in [0, 1] at input_size x input_size."""
        fit = fit_images(self.config.input_size, method="pad" if self.config.input_size == 32 else "bilinear")
        images = fit(scale_images(images))
        return images if labels is None else (images, labels)

    def build_model(self, data):
        cfg = self.config
        channels = data.input_shape[-1]
        model = mobilenet_v2(input_shape=(cfg.input_size, cfg.input_size, channels), num_classes=data.num_classes,
                             alpha=cfg.alpha, bn_momentum=cfg.bn_momentum)
        model.compile(optimizer=self.make_optimizer(data), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"], jit_compile=self.jit_compile)
        return model

    def datasets(self, data):
        cfg = self.config
        augment = pad_crop_flip(pad=2) if cfg.augment else None
        train = make_dataset(data.x_train, data.y_train, batch_size=cfg.batch_size, shuffle=True, seed=cfg.seed,
                             map_fn=self.preprocess, augment_fn=augment)
        val = make_dataset(data.x_val, data.y_val, batch_size=cfg.batch_size, map_fn=self.preprocess)
        return train, val

    def evaluate(self, model, data):
        test = make_dataset(data.x_test, data.y_test, batch_size=self.config.batch_size, map_fn=self.preprocess)
        loss, accuracy = model.evaluate(test, verbose=0)
        metrics = {"dataset": data.name, "test_loss": float(loss), "test_accuracy": float(accuracy),
                   "params": int(model.count_params())}
        metrics.update(self.pruning_metrics(model))
        return metrics

    def export_inputs(self, data):
        return np.asarray(self.preprocess(data.x_train[:500])), np.asarray(self.preprocess(data.x_test)), data.y_test

    def export_trained(self, model, data, formats=None):
        """The verified export, plus the mobile numbers: accuracies, size ratio and latency of each .tflite."""
        report = super().export_trained(model, data, formats)
        sample = np.asarray(self.preprocess(data.x_test[:1]))
        metrics = {}
        for key, entry in report["artifacts"].items():
            if key.startswith("tflite"):
                path = self.run.export_dir / entry["path"]
                entry["latency"] = tflite_latency(path, sample, runs=self.config.latency_runs, warmup=20)
                entry["latency_ms"] = entry["latency"]["median_ms"]
                metrics[f"{key}_latency_ms"] = entry["latency_ms"]
                metrics[f"{key}_bytes"] = entry["bytes"]
        for key, value in (report.get("accuracy") or {}).items():
            metrics[f"{key}_accuracy"] = value
        if "tflite_int8" in report["artifacts"]:
            metrics["int8_accuracy_drop_points"] = round(100 * (metrics["keras_accuracy"] - metrics["tflite_int8_accuracy"]), 2)
            metrics["int8_size_vs_float"] = report["artifacts"]["tflite_int8"]["size_vs_float"]
            if metrics["int8_accuracy_drop_points"] > 1 and self.config.int8_granularity == "per_tensor":
                log.warning("int8 costs %.2f accuracy points with per-tensor weight scales; "
                            "int8_granularity=per_channel usually costs less (a larger file).",
                            metrics["int8_accuracy_drop_points"])
        report["metrics"] = metrics
        return report
