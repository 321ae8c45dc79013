"""triplet-fashion: an embedding of Fashion-MNIST learned with the triplet loss, searched by nearest neighbour.

`simple_cnn` without its head, a dense layer to `embedding_dim` and L2 normalisation, trained with the triplet loss
(`loss_mining`; FaceNet, Schroff et al. 2015; Hermans et al. 2017) on class-balanced batches (`sampler`). Each test
image queries all the others: recall@k of the trained network, of raw pixels and of the untrained network, and a
2-D PCA picture of all three. The embedding network (image in, unit vector out) is exported.
"""

import dataclasses

import keras
import numpy as np
from keras import layers

from kerarch.config import option
from kerarch.data import make_dataset, scale_images
from kerarch.data.triplets import balanced_batches
from kerarch.frame import ImageClassification, register_recipe
from kerarch.frame.image_classification import ImageClassificationConfig
from kerarch.frame.metrics import recall_at_k
from kerarch.plots import plot_pca_projections
from kerarch.training.losses import make_loss
from kerarch.vision import simple_cnn


@dataclasses.dataclass
class TripletFashionConfig(ImageClassificationConfig):
    epochs: int = option(5, "Passes over the training data.", minimum=1)
    batch_size: int = option(120, "Global batch size; with sampler=balanced, batch_size // classes per class.",
                             minimum=2)
    loss_mining: str = option("batch_all", "Triplet mining: batch_all, batch_hard or semi_hard.",
                              choices=("batch_all", "batch_hard", "semi_hard"))
    margin: float = option(0.2, "Triplet margin (embeddings are unit vectors, so distances lie in [0, 2]).",
                           minimum=0.0)
    embedding_dim: int = option(64, "Size of the embedding.", minimum=1)
    filters: tuple[int, ...] = option((16, 32, 64), "Channels of the simple_cnn blocks (one conv each).")
    sampler: str = option("balanced", "Batches: balanced (the same number of each class) or random.",
                          choices=("balanced", "random"))
    train_examples: int = option(20000, "Use only this many training examples (0: all the rest).", minimum=0)
    plot_examples: int = option(2000, "Test embeddings drawn in the PCA picture.", minimum=10)
    steps_per_execution: int = option(16, "Train steps per call of the compiled train function (16 measured 0.95x "
                                      "the CPU time of 1 here: benchmarks/recipe_defaults.py).", minimum=1)


@register_recipe("triplet-fashion")
class TripletFashion(ImageClassification):
    """Triplet-loss embedding of garments: test-set recall@1/@5 against raw pixels and a random network, PCA picture."""

    Config = TripletFashionConfig
    task, monitor, metrics = "regression", "val_loss", None

    def build_model(self, data):
        cfg = self.config
        backbone = simple_cnn(input_shape=data.input_shape, include_top=False, pooling="avg", filters=cfg.filters,
                              convs_per_block=1)
        x = layers.Dense(cfg.embedding_dim, name="embedding")(backbone.output)
        x = layers.UnitNormalization(name="l2_normalize")(x)
        model = keras.Model(backbone.input, x, name="simple_cnn_embedding")
        self.initial_weights = model.get_weights()
        return self.compile(model, data, loss=make_loss("triplet", margin=cfg.margin, mining=cfg.loss_mining))

    def datasets(self, data):
        cfg = self.config
        if cfg.sampler == "balanced":
            train = balanced_batches(data.x_train, data.y_train, batch_size=cfg.batch_size, seed=cfg.seed)
        else:
            train = make_dataset(data.x_train, data.y_train, batch_size=cfg.batch_size, shuffle=True, seed=cfg.seed,
                                 map_fn=scale_images, drop_remainder=True)
        return train, make_dataset(data.x_val, data.y_val, batch_size=cfg.batch_size, map_fn=scale_images)

    def evaluate(self, model, data):
        """Recall@k on the test set of the trained network, of raw pixels and of the untrained network."""
        images = np.asarray(scale_images(data.x_test))
        untrained = keras.models.clone_model(model)
        untrained.set_weights(self.initial_weights)
        embeddings = {"raw pixels": images.reshape(len(images), -1),
                      "random network": untrained.predict(images, batch_size=256, verbose=0),
                      "trained network": model.predict(images, batch_size=256, verbose=0)}
        metrics = {"dataset": data.name, "test_queries": len(images)}
        for prefix, key in (("", "trained network"), ("pixels_", "raw pixels"), ("random_network_", "random network")):
            recalls = recall_at_k(embeddings[key], data.y_test)
            metrics.update({f"{prefix}recall_at_{k}": recall for k, recall in recalls.items()})
        self.draw_projections(embeddings, data)
        return metrics

    def draw_projections(self, embeddings, data):
        cfg = self.config
        shown = np.random.default_rng(cfg.seed).permutation(len(data.y_test))[: cfg.plot_examples]
        shown_embeddings = {title: vectors[shown] for title, vectors in embeddings.items()}
        path = plot_pca_projections(shown_embeddings, data.y_test[shown], self.run.path / "embedding_pca.png",
                                    class_names=data.class_names, seed=cfg.seed)
        self.run.add_picture(path, f"{len(shown)} test images: pixels, random network and trained embedding, "
                                   "projected to 2-D by PCA, coloured by class")

    def export_inputs(self, data):
        return np.asarray(scale_images(data.x_train[:500])), np.asarray(scale_images(data.x_test[:1000])), None
