"""The SelfSupervised kind: unlabelled view pairs in, a linear probe against two baselines out.

A recipe defines `Config` and `build_model` (a SimCLR or BYOL model of
`self.encoder_kwargs(data)`, compiled with `self.compile`); the kind trains
it on view pairs of unlabelled training images, then evaluates its frozen
encoder with a linear probe next to the same architecture randomly
initialised and trained with labels, draws the views and the features, and
exports the encoder.
"""

import dataclasses
import math
import typing

import keras
import numpy as np

from kerarch.config import SCHEDULES, RecipeConfig, image_dataset_option, option
from kerarch.data import load_image_classification, make_dataset, scale_images
from kerarch.data.augment import pad_crop_flip
from kerarch.errors import KerarchError
from kerarch.frame.recipe import Recipe
from kerarch.selfsup.augment import random_view, two_views
from kerarch.selfsup.heads import headless_encoder
from kerarch.selfsup.probe import extract_features, linear_probe, pca_panels
from kerarch.plots import image_grid, read_metrics_csv


@dataclasses.dataclass
class SelfSupervisedConfig(RecipeConfig):
    batch_size: int = option(256, "Global batch size of view pairs (whole batches only).", minimum=2)
    dataset: str = image_dataset_option("fashion_mnist")
    encoder: str = option("simple_cnn", "Registered vision builder used headless as the encoder (it must take "
                          "include_top), e.g. simple_cnn, lenet5, resnet20.")
    filters: typing.Tuple[int, ...] = option((16, 32, 64), "simple_cnn only: channels of each block.")
    convs_per_block: int = option(1, "simple_cnn only: 3x3 convolutions per block.", minimum=1)
    learning_rate: float = option(2e-3, "Peak learning rate (linear warmup, then cosine decay to 0).", minimum=0.0)
    schedule: str = option("warmup_cosine", "Learning-rate schedule.", choices=SCHEDULES)
    warmup_epochs: float = option(1.0, "Learning-rate warmup, in epochs.", minimum=0.0)
    crop_area: typing.Tuple[float, ...] = option((0.3, 1.0), "Range of the random crop's share of the image area.")
    jitter: float = option(0.4, "Brightness and contrast jitter strength (0: none).", minimum=0.0)
    blur_probability: float = option(0.5, "Chance of a 3x3 Gaussian blur per view.", minimum=0.0)
    pretrain_examples: int = option(10_000, "Unlabelled training images for pretraining (0: all 60,000).", minimum=0)
    probe_examples: int = option(10_000, "Labelled training images the linear probes fit (0: all).", minimum=0)
    supervised_baseline: bool = option(True, "Also train the encoder with labels (same images and epochs) and "
                                             "probe it.")
    pca_examples: int = option(2000, "Test images in the PCA picture.", minimum=10)


class SelfSupervised(Recipe):
    """Pretrain on view pairs, then linear probes of the pretrained, a random and a supervised encoder."""

    Config = SelfSupervisedConfig
    monitor = "loss"
    task = "regression"  # the export is the feature extractor

    # --- data -----------------------------------------------------------------------
    def check_config(self):
        """Raises KerarchError for option values the config's types and minimums let through."""
        area = self.config.crop_area
        if len(area) != 2 or not 0.0 < area[0] <= area[1] <= 1.0:
            raise KerarchError(f"crop_area must be two numbers 0 < low <= high <= 1, got {area}.")

    def load_data(self):
        self.check_config()
        data = load_image_classification(self.config.dataset, self.config.data_dir)
        if len(self.pretrain_images(data)) < self.config.batch_size:
            raise KerarchError(
                f"Pretraining uses whole batches, but pretrain_examples gives {len(self.pretrain_images(data)):,} "
                f"images for batch_size={self.config.batch_size}. Lower batch_size or raise pretrain_examples."
            )
        try:  # before the run starts: an encoder that cannot be built headless for these images
            headless_encoder(**self.encoder_kwargs(data))
        except ValueError as error:
            raise KerarchError(f"encoder={self.config.encoder!r} cannot serve as the encoder here: {error}") from None
        return data

    def pretrain_images(self, data):
        return data.x_train[: self.config.pretrain_examples or None]

    def view(self):
        cfg = self.config
        return random_view(crop_area=cfg.crop_area, brightness=cfg.jitter, contrast=cfg.jitter,
                           blur_probability=cfg.blur_probability)

    def datasets(self, data):
        cfg = self.config
        train = make_dataset(self.pretrain_images(data), batch_size=cfg.batch_size, shuffle=True, seed=cfg.seed,
                             map_fn=scale_images, augment_fn=two_views(self.view()), drop_remainder=True)
        return train, None

    def steps_per_epoch(self, data):
        """Pretraining steps per epoch: the `steps_per_epoch` cap, or the whole batches of the pretraining images."""
        return self.config.steps_per_epoch or len(self.pretrain_images(data)) // self.config.batch_size

    def train_steps(self, data):
        return self.config.epochs * self.steps_per_epoch(data)

    # --- models ---------------------------------------------------------------------
    def encoder_kwargs(self, data):
        """`headless_encoder` arguments of the configured encoder."""
        cfg = self.config
        args = {"filters": cfg.filters, "convs_per_block": cfg.convs_per_block} if cfg.encoder == "simple_cnn" else {}
        return {"encoder": cfg.encoder, "input_shape": data.input_shape, "encoder_args": args}

    def supervised_encoder(self, data):
        """The encoder plus a softmax layer, trained with labels on the pretraining images for as many epochs.

        Returns (encoder, test accuracy of its own classifier).
        """
        cfg = self.config
        images = self.pretrain_images(data)
        labels = data.y_train[: len(images)]
        with self.strategy.scope():
            encoder = headless_encoder(**self.encoder_kwargs(data), name="supervised_encoder")
            outputs = keras.layers.Dense(data.num_classes, activation="softmax", name="predictions")(encoder.output)
            classifier = keras.Model(encoder.input, outputs, name="supervised_classifier")
            steps = cfg.epochs * math.ceil(len(images) / cfg.batch_size)
            self.compile(classifier, data, optimizer=self.make_optimizer(data, total_steps=steps),
                         loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        train = make_dataset(images, labels, batch_size=cfg.batch_size, shuffle=True, seed=cfg.seed,
                             map_fn=scale_images, augment_fn=pad_crop_flip(pad=2))
        classifier.fit(train, epochs=cfg.epochs, verbose=0, shuffle=False)  # tf.data shuffles
        test = make_dataset(data.x_test, data.y_test, batch_size=cfg.batch_size, map_fn=scale_images)
        return encoder, float(classifier.evaluate(test, verbose=0)[1])

    # --- evaluation -----------------------------------------------------------------
    def final_pretrain_loss(self):
        """The last epoch's pretraining loss, from metrics.csv (also after a resume that skipped training)."""
        path = self.run.path / "metrics.csv"
        losses = read_metrics_csv(path).get("loss", []) if path.exists() else []
        return float(losses[-1]) if losses else math.nan

    def evaluate(self, model, data):
        cfg = self.config
        probe_images = np.asarray(scale_images(data.x_train[: cfg.probe_examples or None]))
        probe_labels = data.y_train[: len(probe_images)]
        test_images = np.asarray(scale_images(data.x_test))
        encoders = {
            "pretrained": model.encoder,
            "random": headless_encoder(**self.encoder_kwargs(data), name="random_encoder"),
        }
        metrics = {"dataset": data.name, "pretrain_examples": len(self.pretrain_images(data)),
                   "probe_examples": len(probe_images), "feature_dim": int(model.encoder.output.shape[-1]),
                   "final_pretrain_loss": self.final_pretrain_loss()}
        if cfg.supervised_baseline:
            encoders["supervised"], metrics["supervised_classifier_test_accuracy"] = self.supervised_encoder(data)
        test_features = {}
        for kind, encoder in encoders.items():
            test_features[kind] = extract_features(encoder, test_images)
            metrics[f"{kind}_probe_accuracy"] = linear_probe(
                extract_features(encoder, probe_images), probe_labels, test_features[kind], data.y_test)
        self.draw_views(data)
        self.draw_features(data, test_features)
        return metrics

    def draw_views(self, data, count=8):
        """Originals and two augmented views of the first `count` test images."""
        import tensorflow as tf

        view = self.view()
        originals = np.asarray(scale_images(data.x_test[:count]))
        views = [[view(image, tf.constant([self.config.seed, 2 * i + branch], tf.int64)) for i, image in
                  enumerate(originals)] for branch in (0, 1)]
        path = image_grid(np.concatenate([originals, *np.asarray(views)]), self.run.path / "views.png", rows=3,
                          row_labels=["original", "view 1", "view 2"], title="Augmented view pairs")
        self.run.add_picture(path, "Augmented view pairs (what the loss compares)")

    def draw_features(self, data, test_features):
        n = self.config.pca_examples
        panels = {f"{kind} encoder": features[:n] for kind, features in test_features.items()}
        path = pca_panels(panels, data.y_test[:n], self.run.path / "features_pca.png", class_names=data.class_names,
                          title=f"Test features, first two principal components ({data.name})")
        self.run.add_picture(path, "Frozen features of the test set (PCA), coloured by class")

    # --- export ---------------------------------------------------------------------
    def model_to_export(self, model):
        return model.encoder

    def export_inputs(self, data):
        return np.asarray(scale_images(data.x_train[:500])), np.asarray(scale_images(data.x_test[:256])), None
