"""Magnitude pruning: the sparsity schedule, masks, the callback, strip and the report."""

import keras
import numpy as np
import pytest

from kerarch.config import parse_overrides
from kerarch.errors import KerarchError
from kerarch.training.pruning import (
    MagnitudePruning,
    PolynomialSparsity,
    magnitude_mask,
    prunable_weights,
    sparsity_report,
    strip_pruning,
)
from kerarch_recipes.mobilenet_fashion_int8 import MobilenetFashionInt8Config


def test_polynomial_sparsity_follows_zhu_and_gupta():
    schedule = PolynomialSparsity(0.5, begin_step=10, end_step=110)
    assert schedule(0) == 0.0  # nothing pruned before begin_step
    assert schedule(10) == 0.0
    assert schedule(60) == pytest.approx(0.5 - 0.5 * 0.5**3)  # halfway: 0.4375
    assert schedule(110) == schedule(1000) == 0.5


@pytest.mark.parametrize(
    "kwargs", [dict(target=1.0, begin_step=0, end_step=10), dict(target=0.5, begin_step=5, end_step=5),
               dict(target=0.5, begin_step=0, end_step=10, frequency=0)]
)
def test_polynomial_sparsity_rejects_bad_arguments(kwargs):
    target = kwargs.pop("target")
    with pytest.raises(KerarchError):
        PolynomialSparsity(target, **kwargs)


def test_magnitude_mask_zeroes_the_smallest_magnitudes():
    weights = np.array([[0.5, -0.1, 0.3], [-0.9, 0.2, -0.05]], "float32")
    mask = keras.ops.convert_to_numpy(magnitude_mask(weights, 0.5))  # 3 of 6
    np.testing.assert_array_equal(mask, [[1, 0, 1], [1, 0, 0]])
    assert np.all(keras.ops.convert_to_numpy(magnitude_mask(weights, 0.0)) == 1)


def _tiny_model():
    inputs = keras.Input((8,))
    x = keras.layers.Dense(32, activation="relu", name="hidden")(inputs)
    x = keras.layers.Conv1D(4, 1, name="pointwise")(keras.layers.Reshape((32, 1))(x))
    outputs = keras.layers.Dense(3, activation="softmax", name="predictions")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def _fit(model, callback, steps=20):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(steps * 8, 8)).astype("float32"), rng.integers(0, 3, steps * 8)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[callback])


def test_callback_prunes_kernels_to_the_target_and_leaves_biases():
    model = _tiny_model()
    pruning = MagnitudePruning(PolynomialSparsity(0.75, begin_step=0, end_step=10, frequency=2), skip=("predictions",))
    _fit(model, pruning)
    hidden = model.get_layer("hidden")
    assert np.mean(keras.ops.convert_to_numpy(hidden.kernel) == 0) == pytest.approx(0.75, abs=1 / 256)
    assert np.mean(keras.ops.convert_to_numpy(model.get_layer("pointwise").kernel) == 0) == 0.75
    assert np.all(keras.ops.convert_to_numpy(model.get_layer("predictions").kernel) != 0)  # skipped
    assert np.count_nonzero(keras.ops.convert_to_numpy(hidden.bias) == 0) < 32  # biases are never masked
    assert pruning.sparsity == 0.75 and pruning.dense_weights is not None


def test_resumed_callback_rebuilds_the_masks_it_had():
    model = _tiny_model()
    model.optimizer.build(model.trainable_variables)
    model.optimizer.iterations.assign(50)  # as restored from a backup past end_step
    pruning = MagnitudePruning(PolynomialSparsity(0.5, begin_step=0, end_step=10))
    _fit(model, pruning, steps=2)
    assert np.mean(keras.ops.convert_to_numpy(model.get_layer("hidden").kernel) == 0) == pytest.approx(0.5, abs=1 / 256)


def test_callback_needs_prunable_layers():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Activation("softmax")(inputs))
    model.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(KerarchError, match="no prunable"):
        _fit(model, MagnitudePruning(PolynomialSparsity(0.5, begin_step=0, end_step=10)), steps=1)


def test_strip_and_report():
    model = _tiny_model()
    pruning = MagnitudePruning(PolynomialSparsity(0.8, begin_step=0, end_step=4, frequency=1))
    _fit(model, pruning, steps=8)
    plain = strip_pruning(model, pruning)
    assert plain is not model and not plain.compiled
    x = np.random.default_rng(1).normal(size=(4, 8)).astype("float32")
    np.testing.assert_allclose(plain.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)

    report = sparsity_report(plain, baseline=pruning.dense_weights)
    assert [row["layer"] for row in report["layers"]] == ["hidden", "pointwise", "predictions"]
    assert report["prunable_params"] == 8 * 32 + 4 + 128 * 3
    assert report["sparsity"] == pytest.approx(0.8, abs=0.01)
    assert report["gzip_bytes"] < 0.6 * report["baseline_gzip_bytes"]  # zeros compress, dense floats do not
    assert report["gzip_ratio"] == pytest.approx(report["gzip_bytes"] / report["baseline_gzip_bytes"], abs=1e-4)


def test_prunable_weights_finds_nested_and_separable_kernels():
    inner = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.SeparableConv2D(4, 3, name="sep")], name="inner")
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.DepthwiseConv2D(3, name="dw")(inner(inputs)))
    found = {(layer.name, attribute) for layer, attribute, _ in prunable_weights(model)}
    assert found == {("sep", "depthwise_kernel"), ("sep", "pointwise_kernel"), ("dw", "kernel")}


@pytest.mark.parametrize("pairs", [["prune=1.0"], ["prune=0.5", "prune_begin=0.8", "prune_end=0.5"]])
def test_bad_pruning_keys_are_clear_errors(pairs):
    with pytest.raises(KerarchError, match="prune"):
        parse_overrides(MobilenetFashionInt8Config, pairs)
