"""Triplet loss with online mining, in keras.ops (Keras has none and TensorFlow Addons is unmaintained).

    model.compile(optimizer="adam", loss=TripletLoss(margin=0.2, mining="batch_hard"))
    model.fit(images, labels)          # y is the class id, the model's output an embedding

A triplet (anchor a, positive p of a's class, negative n of another class)
costs max(0, d(a, p) - d(a, n) + margin). The loss mines the triplets inside
each batch, so batches need several examples per class.

Mining:
    batch_all: every valid triplet, averaged over those with a positive loss
        (Hermans et al.'s "batch all ≠ 0", so easy triplets do not dilute it).
    batch_hard: per anchor, its farthest positive and its closest negative,
        averaged over the anchors that have both (Hermans et al.).
    semi_hard: per (anchor, positive) pair, the closest negative farther than
        the positive (FaceNet's semi-hard negative); where none is farther,
        the farthest negative (as TensorFlow Addons' triplet_semihard_loss),
        averaged over the pairs.

A batch without a valid triplet (one class only, or no class twice) costs 0.

Reference:
    Schroff, Kalenichenko & Philbin, "FaceNet: A Unified Embedding for Face
    Recognition and Clustering", CVPR 2015; Hermans, Beyer & Leibe, "In
    Defense of the Triplet Loss for Person Re-Identification", 2017.
"""

import keras
from keras import ops


MINING = ("batch_all", "batch_hard", "semi_hard")


def pairwise_distances(embeddings, *, squared=False):
    """(B, B) Euclidean (or squared Euclidean) distances between the rows of `embeddings` (B, D)."""
    dot = ops.matmul(embeddings, ops.transpose(embeddings))
    norms = ops.diagonal(dot)
    squared_distances = ops.maximum(norms[:, None] - 2.0 * dot + norms[None, :], 0.0)
    if squared:
        return squared_distances
    # sqrt has an infinite gradient at 0 (every diagonal entry): take it only where the distance is positive.
    zero = squared_distances <= 1e-12
    return ops.where(zero, 0.0, ops.sqrt(ops.where(zero, 1.0, squared_distances)))


@keras.saving.register_keras_serializable(package="kerarch")
class TripletLoss(keras.losses.Loss):
    """Triplet loss with batch-all, batch-hard or semi-hard mining; `y_true` are class ids, `y_pred` embeddings.

    `call` returns each anchor's share of the batch loss, scaled so that their
    mean (the default "sum_over_batch_size" reduction) is the batch loss.

    Args:
        margin: the margin alpha between positive and negative distances.
        mining: "batch_all", "batch_hard" or "semi_hard" (see the module docstring).
        squared: use squared Euclidean distances (FaceNet) instead of
            Euclidean ones (Hermans et al. found these train more stably).
        normalize: L2-normalise the embeddings first (distances then lie in [0, 2]).
        name, reduction, dtype: as for any `keras.losses.Loss`.

    Reference:
        Schroff et al., FaceNet, CVPR 2015; Hermans et al., "In Defense of
        the Triplet Loss for Person Re-Identification", 2017.
    """

    def __init__(self, *, margin=0.2, mining="batch_all", squared=False, normalize=True, name="triplet_loss",
                 reduction="sum_over_batch_size", dtype=None):
        if mining not in MINING:
            raise ValueError(f"mining must be one of {', '.join(MINING)}; got {mining!r}.")
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.margin = float(margin)
        self.mining = mining
        self.squared = bool(squared)
        self.normalize = bool(normalize)

    def call(self, y_true, y_pred):
        embeddings = ops.cast(y_pred, "float32")
        if self.normalize:
            embeddings = ops.normalize(embeddings, axis=-1)
        distances = pairwise_distances(embeddings, squared=self.squared)  # (B, B)
        labels = ops.reshape(y_true, (-1,))
        same = ops.equal(labels[:, None], labels[None, :])
        positive = ops.logical_and(same, ops.logical_not(ops.eye(ops.shape(labels)[0], dtype="bool")))
        negative = ops.logical_not(same)
        mine = {"batch_all": _batch_all, "batch_hard": _batch_hard, "semi_hard": _semi_hard}[self.mining]
        shares, count = mine(distances, positive, negative, self.margin)  # (B,), number of terms averaged
        batch = ops.cast(ops.shape(labels)[0], "float32")
        return ops.cast(shares * batch / ops.maximum(count, 1.0), self.dtype)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin, "mining": self.mining, "squared": self.squared,
                "normalize": self.normalize}


def _batch_all(distances, positive, negative, margin):
    """Per anchor: the sum of its positive triplet losses; the count of positive triplet losses in the batch."""
    valid = ops.logical_and(positive[:, :, None], negative[:, None, :])  # (a, p, n)
    losses = ops.relu(distances[:, :, None] - distances[:, None, :] + margin)
    losses = ops.where(valid, losses, 0.0)
    return ops.sum(losses, axis=(1, 2)), ops.sum(ops.cast(losses > 1e-16, "float32"))


def _batch_hard(distances, positive, negative, margin):
    """Per anchor: max(0, farthest positive - closest negative + margin); the count of anchors with both."""
    hardest_positive = ops.max(ops.where(positive, distances, 0.0), axis=1)
    far = ops.max(distances) + 1.0  # stands in for "no negative" (such anchors are masked out below)
    hardest_negative = ops.min(ops.where(negative, distances, far), axis=1)
    valid = ops.logical_and(ops.any(positive, axis=1), ops.any(negative, axis=1))
    losses = ops.where(valid, ops.relu(hardest_positive - hardest_negative + margin), 0.0)
    return losses, ops.sum(ops.cast(valid, "float32"))


def _semi_hard(distances, positive, negative, margin):
    """Per anchor: the sum over its positive pairs of the semi-hard triplet loss; the count of such pairs."""
    d_ap = distances[:, :, None]  # (a, p, 1)
    d_an = distances[:, None, :]  # (a, 1, n)
    farther = ops.logical_and(negative[:, None, :], d_an > d_ap)  # (a, p, n): negatives beyond the positive
    far = ops.max(distances) + 1.0
    closest_farther = ops.min(ops.where(farther, d_an, far), axis=2)  # (a, p)
    farthest = ops.max(ops.where(negative, distances, 0.0), axis=1)  # (a,)
    chosen = ops.where(ops.any(farther, axis=2), closest_farther, farthest[:, None])
    pairs = ops.logical_and(positive, ops.any(negative, axis=1)[:, None])
    losses = ops.where(pairs, ops.relu(distances - chosen + margin), 0.0)
    return ops.sum(losses, axis=1), ops.sum(ops.cast(pairs, "float32"))
