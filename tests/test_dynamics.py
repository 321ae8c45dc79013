"""Training dynamics: every optimizer x schedule trains, every loss computes, the builders' regularization switches."""

import math

import keras
import numpy as np
import pytest

import kerarch
from builder_checks import check_builder
from kerarch.training.losses import LOSSES, make_loss
from kerarch.training.optim import OPTIMIZERS, SCHEDULES, describe_optimizer, make_optimizer, make_schedule
from kerarch.training.triplet import TripletLoss

# y = x . (1, -2, 3) + 0.5: a linear model starts far from it, so a few steps must lower the loss.
X = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
Y = X @ np.array([[1.0], [-2.0], [3.0]], "float32") + 0.5


@pytest.mark.parametrize("optimizer", OPTIMIZERS.names())
@pytest.mark.parametrize("schedule", SCHEDULES.names())
def test_every_optimizer_and_schedule_takes_steps_that_lower_the_loss(optimizer, schedule):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    rate = make_schedule(schedule, 0.05, total_steps=4, warmup_steps=1)
    step = make_optimizer(optimizer, learning_rate=rate, weight_decay=1e-4, clipnorm=10.0)
    layer = model.layers[0]
    before = _mse(model)
    for _ in range(2):  # warmup schedules start at a rate of 0
        error = 2.0 * (model(X) - Y) / len(X)  # d(mse)/d(prediction); the gradient by hand keeps this fast
        step.apply_gradients([(keras.ops.matmul(keras.ops.transpose(X), error), layer.kernel),
                              (keras.ops.sum(error, axis=0), layer.bias)])
    assert int(step.iterations) == 2
    assert _mse(model) < before


def _mse(model):
    return float(np.mean((np.asarray(model(X)) - Y) ** 2))


def test_schedules_follow_their_shape():
    constant = make_schedule("constant", 0.1, total_steps=100)
    assert constant == 0.1
    step = make_schedule("step", 0.1, total_steps=100)
    assert [round(float(step(s)), 6) for s in (0, 49, 51, 76)] == [0.1, 0.1, 0.01, 0.001]
    warm = make_schedule("warmup_cosine", 0.1, total_steps=100, warmup_steps=10)
    assert float(warm(5)) == pytest.approx(0.05) and float(warm(10)) == pytest.approx(0.1)
    assert float(warm(100)) == pytest.approx(0.0, abs=1e-7)
    linear = make_schedule("linear", 0.1, total_steps=100, warmup_steps=20)
    assert float(linear(10)) == pytest.approx(0.05) and float(linear(60)) == pytest.approx(0.05)


def test_the_schedule_picture_samples_the_steps_taken(tmp_path):
    from PIL import Image

    from kerarch.plots import learning_rate_schedule, plot_schedules

    scheduled = make_optimizer("sgd", learning_rate=make_schedule("warmup_cosine", 0.1, total_steps=100,
                                                                  warmup_steps=10))
    scheduled.build([keras.Variable(1.0)])
    scheduled.iterations.assign(100)
    steps, rates = learning_rate_schedule(scheduled, points=11)
    assert steps.tolist() == list(range(0, 101, 10))
    assert rates[0] == 0.0 and rates[1] == pytest.approx(0.1) and rates[-1] == pytest.approx(0.0, abs=1e-7)
    assert rates[5] == pytest.approx(0.05 * (1 + math.cos(math.pi * 40 / 90)))
    constant = make_optimizer("sgd", learning_rate=0.1)
    assert learning_rate_schedule(constant) is None
    assert plot_schedules({"optimizer": constant}, tmp_path / "none.png", epochs=4) is None
    path = plot_schedules({"optimizer": scheduled, "other": constant}, tmp_path / "lr.png", epochs=4)
    assert Image.open(path).size[0] > 300


@pytest.mark.parametrize(
    "name, kwargs, y_true, y_pred, expected",
    [
        ("crossentropy", {}, [1], [[0.2, 0.8]], -math.log(0.8)),
        # Label smoothing 0.2 over 2 classes: targets (0.1, 0.9).
        ("crossentropy", {"label_smoothing": 0.2}, [[0.0, 1.0]], [[0.2, 0.8]],
         -(0.1 * math.log(0.2) + 0.9 * math.log(0.8))),
        ("mse", {}, [[1.0, 2.0]], [[0.0, 4.0]], (1.0 + 4.0) / 2),
        # Huber with delta 1: 0.5 * 0.5^2 for |error| 0.5, 1 * (3 - 0.5) for |error| 3.
        ("huber", {"delta": 1.0}, [[0.0, 0.0]], [[0.5, 3.0]], (0.125 + 2.5) / 2),
        ("triplet", {"margin": 0.5, "mining": "batch_hard"}, [0, 0, 1, 1],
         [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]], 0.5),
    ],
)
def test_every_registered_loss_builds_and_computes(name, kwargs, y_true, y_pred, expected):
    loss = make_loss(name, **kwargs)
    assert isinstance(loss, keras.losses.Loss)
    value = float(loss(np.array(y_true, "float32"), np.array(y_pred, "float32")))
    assert value == pytest.approx(expected, rel=1e-5)


def test_the_loss_table_covers_the_registry():
    covered = {"crossentropy", "mse", "huber", "triplet"}
    assert set(LOSSES.names()) == covered
    assert isinstance(make_loss("triplet"), TripletLoss)


def test_describe_optimizer_names_the_choices():
    described = describe_optimizer(make_optimizer("momentum", learning_rate=0.1, weight_decay=1e-4, clipnorm=1.0))
    assert described["class"] == "SGD" and described["momentum"] == pytest.approx(0.9)
    assert described["weight_decay"] == pytest.approx(1e-4) and described["clipnorm"] == pytest.approx(1.0)
    assert described["learning_rate"] == pytest.approx(0.1)
    assert "nesterov" not in described and "clipvalue" not in described
    scheduled = describe_optimizer(make_optimizer("adamw", learning_rate=make_schedule("cosine", 1e-3, total_steps=10)))
    assert scheduled["class"] == "AdamW" and "CosineDecay" in str(scheduled["learning_rate"])


# --- the builders' switches ------------------------------------------------------------


def test_mlp_layer_norm_replaces_the_bias_and_round_trips(tmp_path):
    model = kerarch.build("mlp", input_shape=(6,), num_classes=3, hidden_units=(8, 8), layer_norm=True,
                          activation="gelu")
    # Per hidden layer: kernel without bias + LayerNorm gamma and beta; then the 8x3 softmax layer with bias.
    check_builder(model, input_shape=(6,), output_shape=(3,), params=6 * 8 + 16 + 8 * 8 + 16 + 8 * 3 + 3, name="mlp",
                  tmp_path=tmp_path)
    assert {"dense1_ln", "dense2_ln", "dense1_gelu"} <= {layer.name for layer in model.layers}


def test_mlp_residual_adds_the_input_where_widths_match(tmp_path):
    model = kerarch.build("mlp", input_shape=(4,), num_classes=None, hidden_units=(5, 5, 5), activation="sigmoid",
                          residual=True)
    check_builder(model, input_shape=(4,), output_shape=(5,), tmp_path=tmp_path, name="mlp")
    assert [layer.name for layer in model.layers if isinstance(layer, keras.layers.Add)] == ["dense2_add", "dense3_add"]
    for name in ("dense2", "dense3"):  # zero weights: each shortcut layer adds sigmoid(0) = 0.5
        model.get_layer(name).set_weights([np.zeros((5, 5)), np.zeros(5)])
    x = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")
    dense1 = model.get_layer("dense1")
    first = 1.0 / (1.0 + np.exp(-(x @ dense1.kernel.numpy() + dense1.bias.numpy())))
    np.testing.assert_allclose(np.asarray(model(x)), first + 1.0, rtol=1e-5)


def test_mlp_initializer_and_bn_momentum_switches():
    model = kerarch.build("mlp", input_shape=(4,), hidden_units=(3,), batch_norm=True, bn_momentum=0.9,
                          kernel_initializer="zeros")
    assert model.get_layer("dense1_bn").momentum == pytest.approx(0.9)
    assert np.all(model.get_layer("dense1").kernel.numpy() == 0)


@pytest.mark.parametrize("builder", ["mlp", "simple_cnn"])
def test_batch_norm_and_layer_norm_are_exclusive(builder):
    with pytest.raises(ValueError, match="batch_norm or layer_norm"):
        kerarch.build(builder, input_shape=(8, 8, 1), batch_norm=True, layer_norm=True)


def test_simple_cnn_activation_and_layer_norm(tmp_path):
    model = kerarch.build("simple_cnn", input_shape=(8, 8, 1), num_classes=3, filters=(4, 8), convs_per_block=1,
                          batch_norm=False, layer_norm=True, activation="tanh", dense_units=5)
    # convs without bias + LayerNorm (gamma, beta per channel); dense 8->5 and 5->3 with biases.
    params = (9 * 1 * 4 + 2 * 4) + (9 * 4 * 8 + 2 * 8) + (8 * 5 + 5) + (5 * 3 + 3)
    check_builder(model, input_shape=(8, 8, 1), output_shape=(3,), params=params, name="simple_cnn", tmp_path=tmp_path)
    names = {layer.name for layer in model.layers}
    assert {"block1_conv1_ln", "block1_conv1_tanh", "block2_conv1_ln"} <= names
    assert model.get_layer("fc1").get_config()["activation"] == "tanh"


def test_simple_cnn_defaults_keep_their_layers():
    names = [layer.name for layer in kerarch.build("simple_cnn", input_shape=(8, 8, 1)).layers]
    assert "block1_conv1_bn" in names and "block1_conv1_relu" in names and not any(n.endswith("_ln") for n in names)
