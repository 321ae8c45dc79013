"""Triplet loss: each mining mode against values worked out by hand, edge cases, training and serialisation."""

import itertools
import math

import keras
import numpy as np
import pytest

from kerarch.training.losses import make_loss
from kerarch.training.triplet import TripletLoss, pairwise_distances

ROOT2 = math.sqrt(2.0)

# Four unit vectors at 0, 90, 180 and 270 degrees; classes {0, 90} and {180, 270}.
# Each anchor has one positive at sqrt(2), one negative at sqrt(2) and one at 2.
SQUARE = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]], "float32")
SQUARE_LABELS = np.array([0, 0, 1, 1])


@pytest.mark.parametrize(
    "mining, margin, expected",
    [
        # Hardest positive sqrt(2), hardest negative sqrt(2): margin for every anchor.
        ("batch_hard", 0.5, 0.5),
        ("batch_hard", 1.0, 1.0),
        # Per (a, p): triplet with the sqrt(2) negative costs the margin, with the 2 negative sqrt(2) - 2 + margin.
        ("batch_all", 0.5, 0.5),  # 4 active triplets of 0.5 (sqrt(2) - 2 + 0.5 < 0 is inactive)
        ("batch_all", 1.0, (4 * 1.0 + 4 * (ROOT2 - 1.0)) / 8),  # 8 active triplets
        # Semi-hard: the closest negative farther than the positive is the one at 2.
        ("semi_hard", 0.5, 0.0),
        ("semi_hard", 1.0, ROOT2 - 1.0),
    ],
)
def test_square_by_hand(mining, margin, expected):
    loss = TripletLoss(mining=mining, margin=margin)
    assert float(loss(SQUARE_LABELS, SQUARE)) == pytest.approx(expected, abs=1e-5)


def reference(embeddings, labels, mining, margin):
    """The loss by enumerating triplets in plain Python, as the papers define it."""
    e = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    d = np.linalg.norm(e[:, None] - e[None, :], axis=-1)
    n = len(labels)
    pos = lambda a: [p for p in range(n) if p != a and labels[p] == labels[a]]  # noqa: E731
    neg = lambda a: [k for k in range(n) if labels[k] != labels[a]]  # noqa: E731
    if mining == "batch_all":
        losses = [max(0.0, d[a, p] - d[a, k] + margin) for a in range(n) for p in pos(a) for k in neg(a)]
        active = [x for x in losses if x > 1e-16]
        return sum(active) / max(len(active), 1)
    if mining == "batch_hard":
        losses = [max(0.0, max(d[a, p] for p in pos(a)) - min(d[a, k] for k in neg(a)) + margin)
                  for a in range(n) if pos(a) and neg(a)]
        return sum(losses) / max(len(losses), 1)
    losses = []
    for a in range(n):
        if not neg(a):
            continue
        for p in pos(a):
            farther = [d[a, k] for k in neg(a) if d[a, k] > d[a, p]]
            chosen = min(farther) if farther else max(d[a, k] for k in neg(a))
            losses.append(max(0.0, d[a, p] - chosen + margin))
    return sum(losses) / max(len(losses), 1)


@pytest.mark.parametrize("mining", ["batch_all", "batch_hard", "semi_hard"])
def test_matches_triplet_enumeration_on_six_points(mining):
    rng = np.random.default_rng(3)
    embeddings = rng.normal(size=(6, 2)).astype("float32")
    labels = np.array([0, 0, 1, 1, 2, 2])
    for margin in (0.1, 0.5, 1.5):
        expected = reference(embeddings, labels, mining, margin)
        assert float(TripletLoss(mining=mining, margin=margin)(labels, embeddings)) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("mining", ["batch_all", "batch_hard", "semi_hard"])
def test_margin_zero_on_separated_classes_costs_nothing_and_grows_with_margin(mining):
    embeddings = np.array([[1.0, 0.05], [1.0, -0.05], [-1.0, 0.05], [-1.0, -0.05]], "float32")
    labels = np.array([0, 0, 1, 1])
    values = [float(TripletLoss(mining=mining, margin=m)(labels, embeddings)) for m in (0.0, 2.5, 3.0)]
    assert values[0] == 0.0 and 0.0 < values[1] < values[2]


@pytest.mark.parametrize("mining", ["batch_all", "batch_hard", "semi_hard"])
@pytest.mark.parametrize("labels", [[3, 3, 3, 3], [0, 1, 2, 3]], ids=["one-class", "no-pairs"])
def test_no_valid_triplet_costs_zero_with_finite_gradients(mining, labels):
    import tensorflow as tf

    embeddings = tf.Variable(SQUARE)
    with tf.GradientTape() as tape:
        value = TripletLoss(mining=mining, margin=0.5)(np.array(labels), embeddings)
    assert float(value) == 0.0
    gradient = tape.gradient(value, embeddings)
    assert gradient is None or np.all(np.isfinite(gradient.numpy()))


def test_identical_embeddings_give_finite_gradients():
    import tensorflow as tf

    embeddings = tf.Variable([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    with tf.GradientTape() as tape:
        value = TripletLoss(mining="batch_hard", margin=0.2)(np.array([0, 0, 1, 1]), embeddings)
    assert float(value) > 0.0
    assert np.all(np.isfinite(tape.gradient(value, embeddings).numpy()))
    assert np.asarray(pairwise_distances(np.asarray(embeddings))).diagonal().tolist() == [0.0, 0.0, 0.0, 0.0]


def test_squared_distances_and_no_normalisation():
    points = np.array([[2.0, 0.0], [0.0, 0.0], [0.0, 1.0]], "float32")
    assert np.asarray(pairwise_distances(points, squared=True)).tolist() == [[0, 4, 5], [4, 0, 1], [5, 1, 0]]
    # Anchor 0: positive 1 at squared distance 4, negative 2 at 5; anchor 1: positive 0 at 4, negative 2 at 1.
    loss = TripletLoss(mining="batch_hard", margin=1.0, squared=True, normalize=False)
    assert float(loss(np.array([0, 0, 1]), points)) == pytest.approx((0.0 + 4.0) / 2)


def test_per_anchor_shares_average_to_the_batch_loss():
    labels = np.array([0, 0, 1, 1, 2, 2])
    embeddings = np.random.default_rng(1).normal(size=(6, 3)).astype("float32")
    shares = TripletLoss(mining="batch_all", margin=0.5, reduction="none")(labels, embeddings)
    batch_loss = TripletLoss(mining="batch_all", margin=0.5)(labels, embeddings)
    assert np.mean(np.asarray(shares)) == pytest.approx(float(batch_loss))


def test_training_with_the_loss_separates_classes():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 16)
    x = (rng.normal(size=(64, 8)) + 3.0 * np.eye(8)[labels]).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=make_loss("triplet", mining="batch_hard", margin=0.5),
                  jit_compile=False)
    losses = [float(model.train_on_batch(x, labels)) for _ in range(15)]
    assert losses[-1] < 0.5 * losses[0]


def test_serialises_alone_and_inside_a_saved_model(tmp_path):
    loss = make_loss("triplet", mining="batch_hard", margin=0.3, squared=True)
    assert isinstance(loss, TripletLoss)
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert restored.get_config() == loss.get_config() and restored.mining == "batch_hard"
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss=loss)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    assert reloaded.loss.get_config() == loss.get_config()


def test_rejects_unknown_mining():
    with pytest.raises(ValueError, match="batch_all, batch_hard, semi_hard"):
        TripletLoss(mining="hardest")


def test_reference_counts_every_triplet_once():
    """The reference itself: the square has 4 anchors x 1 positive x 2 negatives."""
    labels = SQUARE_LABELS
    triplets = [t for t in itertools.permutations(range(4), 3)
                if labels[t[0]] == labels[t[1]] and labels[t[0]] != labels[t[2]]]
    assert len(triplets) == 8
    assert reference(SQUARE, labels, "batch_all", 10.0) == pytest.approx(10.0 + (4 * 0 + 4 * (ROOT2 - 2)) / 8)
