"""triplet-fashion: an embedding of Fashion-MNIST learned with the triplet loss, searched by nearest neighbour.

The embedding network is the registered `simple_cnn` without its head
(global average pooling) plus a dense layer to `embedding_dim` and L2
normalisation (`keras.layers.UnitNormalization`); it is trained with
`kerarch.training.triplet.TripletLoss` and mining `loss_mining`
(batch_all, batch_hard or semi_hard; FaceNet, Schroff et al. 2015;
Hermans et al. 2017).

Batches: triplets are mined inside a batch, so each batch needs several
examples of each class. With `sampler=balanced` (the default) every batch
holds batch_size // 10 examples of each of the 10 classes (Hermans et al.'s
P x K batches with P = all classes), drawn from one shuffled tf.data stream
per class; an epoch ends when a class runs out. `sampler=random` draws
plain shuffled batches, which with 10 classes still hold about
batch_size / 10 per class.

Evaluation is retrieval on the test set: each test image queries all the
other test images, and recall@k is the fraction of queries with an image of
their own class among their k nearest neighbours (Euclidean distance;
recall@1 is leave-one-out 1-nearest-neighbour accuracy). The same is
reported for raw pixels and for the network at its initial random weights.
A 2-D PCA projection of the test embeddings, coloured by class, is drawn
for all three. The embedding network (image in, unit vector out) is exported.
"""

import dataclasses

import keras
import numpy as np
from keras import layers

from kerarch.config import RecipeConfig, option
from kerarch.data import load_image_classification, make_dataset, scale_images
from kerarch.data.splits import split_validation
from kerarch.frame import Recipe, register_recipe
from kerarch.training.losses import make_loss
from kerarch.plots import pyplot, save_figure
from kerarch.vision import simple_cnn

RECALL_AT = (1, 5)


@dataclasses.dataclass
class TripletFashionConfig(RecipeConfig):
    epochs: int = option(5, "Passes over the training data.", minimum=1)
    batch_size: int = option(120, "Global batch size; with sampler=balanced, batch_size // classes per class.",
                             minimum=2)
    dataset: str = option("fashion_mnist", "fashion_mnist or mnist (falls back to Fashion-MNIST offline).",
                          choices=("fashion_mnist", "mnist"))
    loss_mining: str = option("batch_all", "Triplet mining: batch_all, batch_hard or semi_hard.",
                              choices=("batch_all", "batch_hard", "semi_hard"))
    margin: float = option(0.2, "Triplet margin (embeddings are unit vectors, so distances lie in [0, 2]).",
                           minimum=0.0)
    embedding_dim: int = option(64, "Size of the embedding.", minimum=1)
    filters: tuple[int, ...] = option((16, 32, 64), "Channels of the simple_cnn blocks (one conv each).")
    sampler: str = option("balanced", "Batches: balanced (the same number of each class) or random.",
                          choices=("balanced", "random"))
    validation_examples: int = option(5000, "Training examples held out for validation (best checkpoint).", minimum=1)
    train_examples: int = option(20000, "Use only this many training examples (0: all the rest).", minimum=0)
    plot_examples: int = option(2000, "Test embeddings drawn in the PCA picture.", minimum=10)


def balanced_batches(x, y, *, batch_size, seed):
    """Shuffled batches of uint8 images -> float32 with batch_size // classes examples of every class.

    One shuffled stream per class, read in turns of `per_class` examples; the
    epoch ends when the first class runs out.
    """
    import tensorflow as tf

    classes = np.unique(y)
    per_class = max(1, batch_size // len(classes))
    streams = [
        tf.data.Dataset.from_tensor_slices((x[y == c], y[y == c]))
        .shuffle(int(np.sum(y == c)), seed=seed + i, reshuffle_each_iteration=True)
        .batch(per_class, drop_remainder=True)
        for i, c in enumerate(classes)
    ]
    turns = tf.data.Dataset.range(len(classes)).repeat()
    batches = tf.data.Dataset.choose_from_datasets(streams, turns).unbatch()
    return batches.batch(per_class * len(classes), drop_remainder=True).map(scale_images).prefetch(tf.data.AUTOTUNE)


def recall_at_k(embeddings, labels, ks=RECALL_AT, *, chunk=1000):
    """{k: fraction of rows whose k nearest other rows (Euclidean) include one of the same label}."""
    embeddings = np.asarray(embeddings, "float32").reshape(len(embeddings), -1)
    squared = np.sum(embeddings**2, axis=1)
    hits = dict.fromkeys(ks, 0)
    for start in range(0, len(embeddings), chunk):
        rows = np.arange(start, min(start + chunk, len(embeddings)))
        distances = squared[rows, None] - 2.0 * embeddings[rows] @ embeddings.T + squared[None, :]
        distances[np.arange(len(rows)), rows] = np.inf  # a query is not its own neighbour
        nearest = np.argpartition(distances, max(ks), axis=1)[:, : max(ks)]
        nearest = np.take_along_axis(nearest, np.argsort(np.take_along_axis(distances, nearest, 1), 1), 1)
        same = labels[nearest] == labels[rows, None]
        for k in ks:
            hits[k] += int(np.sum(np.any(same[:, :k], axis=1)))
    return {k: hits[k] / len(embeddings) for k in ks}


@register_recipe("triplet-fashion")
class TripletFashion(Recipe):
    """Triplet-loss embedding of garments: test-set recall@1/@5 against raw pixels and a random network, PCA picture."""

    Config = TripletFashionConfig
    task = "regression"

    def load_data(self):
        cfg = self.config
        data = load_image_classification(cfg.dataset, cfg.data_dir)
        return split_validation(data, cfg.validation_examples, cfg.train_examples, cfg.seed)

    def build_model(self, data):
        cfg = self.config
        backbone = simple_cnn(input_shape=data.input_shape, include_top=False, pooling="avg", filters=cfg.filters,
                              convs_per_block=1)
        x = layers.Dense(cfg.embedding_dim, name="embedding")(backbone.output)
        x = layers.UnitNormalization(name="l2_normalize")(x)
        model = keras.Model(backbone.input, x, name="simple_cnn_embedding")
        self.initial_weights = model.get_weights()
        model.compile(optimizer=self.make_optimizer(data), loss=make_loss("triplet", margin=cfg.margin,
                                                                          mining=cfg.loss_mining),
                      jit_compile=self.jit_compile)
        return model

    def datasets(self, data):
        cfg = self.config
        if cfg.sampler == "balanced":
            train = balanced_batches(data.x_train, data.y_train, batch_size=cfg.batch_size, seed=cfg.seed)
        else:
            train = make_dataset(data.x_train, data.y_train, batch_size=cfg.batch_size, shuffle=True, seed=cfg.seed,
                                 map_fn=scale_images, drop_remainder=True)
        val = make_dataset(data.x_val, data.y_val, batch_size=cfg.batch_size, map_fn=scale_images)
        return train, val

    def evaluate(self, model, data):
        images = np.asarray(scale_images(data.x_test))
        random_network = keras.models.clone_model(model)
        random_network.set_weights(self.initial_weights)
        embeddings = {
            "raw pixels": images.reshape(len(images), -1),
            "random network": random_network.predict(images, batch_size=256, verbose=0),
            "trained network": model.predict(images, batch_size=256, verbose=0),
        }
        metrics = {"dataset": data.name, "test_queries": len(images)}
        for prefix, key in (("", "trained network"), ("pixels_", "raw pixels"), ("random_network_", "random network")):
            for k, recall in recall_at_k(embeddings[key], data.y_test).items():
                metrics[f"{prefix}recall_at_{k}"] = recall
        self.draw_projections(embeddings, data)
        return metrics

    def draw_projections(self, embeddings, data):
        from sklearn.decomposition import PCA

        plt = pyplot()
        shown = np.random.default_rng(self.config.seed).permutation(len(data.y_test))[: self.config.plot_examples]
        fig, axes = plt.subplots(1, len(embeddings), figsize=(5 * len(embeddings), 4.8))
        for ax, (title, vectors) in zip(axes, embeddings.items()):
            points = PCA(n_components=2, random_state=self.config.seed).fit_transform(vectors[shown])
            for c, name in enumerate(data.class_names):
                mine = data.y_test[shown] == c
                ax.scatter(points[mine, 0], points[mine, 1], s=4, color=f"C{c}", label=name)
            ax.set_title(f"{title} (PCA to 2-D)")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[-1].legend(fontsize=7, markerscale=3, loc="center left", bbox_to_anchor=(1.0, 0.5))
        fig.tight_layout()
        path = self.run.path / "embedding_pca.png"
        save_figure(fig, path)
        self.run.add_picture(path, f"{len(shown)} test images: pixels, random network and trained embedding, "
                                   "projected to 2-D by PCA, coloured by class")

    def export_inputs(self, data):
        return np.asarray(scale_images(data.x_train[:500])), np.asarray(scale_images(data.x_test[:1000])), None
