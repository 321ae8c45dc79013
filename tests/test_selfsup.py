"""SimCLR and BYOL: losses by hand, the EMA and its schedule, view augmentation, builders, training on TF and JAX."""

import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerarch
from builder_checks import check_builder
from kerarch.data import make_dataset
from kerarch.errors import KerarchError
from kerarch.selfsup import (BYOL, SimCLR, byol, byol_loss, ema_update, gaussian_blur, headless_encoder, nt_xent,
                             random_resized_crop, random_view, simclr, target_decay, two_views)

TINY_ENCODER = {"encoder": "simple_cnn", "encoder_args": {"filters": (4, 8), "convs_per_block": 1}}
TINY_HEADS = {"projection_units": 8, "projection_dim": 4}


def numpy(x):
    return keras.ops.convert_to_numpy(x)


# --- losses --------------------------------------------------------------------------


def nt_xent_by_loops(z1, z2, temperature):
    """Eq. (1) of Chen et al. written out view by view."""
    z = np.concatenate([z1, z2]).astype("float64")
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z1)
    losses = []
    for k in range(2 * n):
        partner = (k + n) % (2 * n)
        others = [math.exp(z[k] @ z[j] / temperature) for j in range(2 * n) if j != k]
        losses.append(-math.log(math.exp(z[k] @ z[partner] / temperature) / sum(others)))
    return sum(losses) / len(losses)


def test_nt_xent_closed_form_on_orthogonal_pairs():
    # Views equal in pairs, pairs orthogonal, tau = 1: each view sees its partner at cos 1 and two others at cos 0,
    # so every term is -log(e / (e + 2)).
    z = np.array([[1.0, 0.0], [0.0, 3.0]], "float32")  # norms differ: the loss normalises
    assert float(nt_xent(z, z, temperature=1.0)) == pytest.approx(math.log(1.0 + 2.0 / math.e), rel=1e-6)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 2.0])
def test_nt_xent_matches_the_written_out_formula(temperature):
    z1 = np.array([[1.0, 2.0], [-1.0, 0.5]], "float32")
    z2 = np.array([[0.5, 1.0], [2.0, -1.0]], "float32")
    assert float(nt_xent(z1, z2, temperature=temperature)) == pytest.approx(
        nt_xent_by_loops(z1, z2, temperature), rel=1e-5)


def test_byol_loss_by_hand():
    predictions = np.array([[1.0, 0.0], [1.0, 1.0]], "float32")
    targets = np.array([[0.0, 2.0], [3.0, 3.0]], "float32")
    # Orthogonal: 2 - 2 * 0 = 2; parallel: 2 - 2 * 1 = 0; mean 1.
    assert float(byol_loss(predictions, targets)) == pytest.approx(1.0, abs=1e-6)


# --- the target's moving average ---------------------------------------------------------


def test_target_decay_follows_the_cosine_schedule():
    base, total = 0.99, 100
    assert float(target_decay(0, total_steps=total, base=base)) == pytest.approx(0.99)
    assert float(target_decay(50, total_steps=total, base=base)) == pytest.approx(1 - 0.01 * 0.5)
    assert float(target_decay(25, total_steps=total, base=base)) == pytest.approx(
        1 - 0.01 * (math.cos(math.pi / 4) + 1) / 2, rel=1e-6)
    assert float(target_decay(100, total_steps=total, base=base)) == pytest.approx(1.0)
    assert float(target_decay(150, total_steps=total, base=base)) == pytest.approx(1.0)


def test_ema_update_arithmetic_is_exact():
    target = keras.Variable(np.array([1.0, 2.0, -4.0], "float32"), trainable=False)
    source = keras.Variable(np.array([3.0, 6.0, 0.0], "float32"))
    ema_update([target], [source], 0.75)
    np.testing.assert_array_equal(numpy(target), [1.5, 3.0, -3.0])  # 0.75 t + 0.25 s, exact in binary
    np.testing.assert_array_equal(numpy(source), [3.0, 6.0, 0.0])


def tiny_byol(**kwargs):
    return byol(input_shape=(8, 8, 1), **TINY_ENCODER, **TINY_HEADS, prediction_units=8, **kwargs)


def test_byol_target_is_a_non_trainable_copy_that_still_uses_batch_statistics():
    model = tiny_byol()
    online = model.encoder.trainable_weights + model.projector.trainable_weights + model.predictor.trainable_weights
    assert {id(v) for v in model.trainable_weights} == {id(v) for v in online}
    for target, source in model.target_pairs():
        assert not target.trainable
        np.testing.assert_array_equal(numpy(target), numpy(source))
    assert all(layer.trainable for layer in model.target_encoder.layers)  # BatchNorm normalises with batch statistics


def test_update_target_moves_the_target_with_the_scheduled_decay():
    model = tiny_byol(base_decay=0.5, total_steps=4)
    pairs = model.target_pairs()
    for target, source in pairs:
        target.assign(np.zeros(target.shape, "float32"))
        source.assign(np.ones(source.shape, "float32"))
    model.update_target()  # tau(0) = 0.5: 0.5 * 0 + 0.5 * 1
    tau1 = 1 - 0.5 * (math.cos(math.pi / 4) + 1) / 2
    model.update_target()  # tau(1): tau1 * 0.5 + (1 - tau1) * 1
    assert float(numpy(model.target_updates)) == 2.0
    for target, _ in pairs:
        np.testing.assert_allclose(numpy(target), tau1 * 0.5 + (1 - tau1), rtol=1e-6)


def view_pairs(count=16, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(rng.uniform(size=(count, 8, 8, 1)).astype("float32") for _ in range(2))


@pytest.mark.parametrize("strategy", ["default", "mirrored"])
def test_byol_fit_moves_the_target_towards_the_weights_of_the_previous_step(strategy):
    """After steps 1 and 2 the target is tau(1) theta_0 + (1 - tau(1)) theta_1, on every replica."""
    from kerarch.training.distribute import make_strategy

    distribution = make_strategy(strategy)
    with distribution.scope():
        model = tiny_byol(base_decay=0.9, total_steps=10)
        model.compile(optimizer=keras.optimizers.SGD(0.5))
    theta0 = [numpy(source) for _, source in model.target_pairs()]
    data = tf.data.Dataset.from_tensors((view_pairs(),))
    model.fit(data, epochs=1, verbose=0)  # step 1: the target update of tau(0) is a no-op (target == online)
    theta1 = [numpy(source) for _, source in model.target_pairs()]
    for (target, _), before in zip(model.target_pairs(), theta0):
        np.testing.assert_allclose(numpy(target), before, atol=1e-6)
    model.fit(data, epochs=1, verbose=0)
    tau1 = float(target_decay(1, total_steps=10, base=0.9))
    moved = 0
    for (target, _), before, after in zip(model.target_pairs(), theta0, theta1):
        np.testing.assert_allclose(numpy(target), tau1 * before + (1 - tau1) * after, atol=1e-6)
        moved += not np.allclose(before, after)
        copies = getattr(target.value, "values", [target.value])
        assert len(copies) == distribution.num_replicas_in_sync
        for copy in copies[1:]:
            np.testing.assert_array_equal(numpy(copy), numpy(copies[0]))
    assert moved > 0 and float(numpy(model.target_updates)) == 2.0


# --- builders ----------------------------------------------------------------------------


@pytest.mark.parametrize("build", [simclr, byol])
def test_builders_shapes_and_round_trips(build, tmp_path):
    model = build(input_shape=(8, 8, 1), **TINY_ENCODER, **TINY_HEADS)
    assert isinstance(model, (SimCLR, BYOL)) and model.encoder.name == f"{model.name}_encoder"
    # Two views of a batch of 2 -> two (2, projection_dim) outputs, stacked by check_builder.
    check_builder(model, input_shape=[(8, 8, 1), (8, 8, 1)], output_shape=(2, 4), name=build.__name__,
                  tmp_path=tmp_path)
    restored = keras.saving.load_model(tmp_path / f"{model.name}.keras")
    assert type(restored) is type(model)
    if isinstance(model, BYOL):
        assert restored.total_steps == model.total_steps
        for (target, _), (restored_target, _) in zip(model.target_pairs(), restored.target_pairs()):
            np.testing.assert_array_equal(numpy(target), numpy(restored_target))
            assert not restored_target.trainable


def test_encoder_alone_round_trips(tmp_path):
    encoder = kerarch.build("simclr", input_shape=(8, 8, 1), **TINY_ENCODER, **TINY_HEADS).encoder
    encoder.save(tmp_path / "encoder.keras")
    x = view_pairs(2)[0]
    np.testing.assert_allclose(numpy(keras.saving.load_model(tmp_path / "encoder.keras")(x)), numpy(encoder(x)),
                               atol=1e-6)


def test_headless_encoder_from_builders_with_and_without_pooling():
    assert headless_encoder("lenet5", input_shape=(28, 28, 1)).output.shape == (None, 84)  # no pooling argument
    assert headless_encoder("simple_cnn", input_shape=(8, 8, 1), encoder_args={"filters": (4, 6)}).output.shape == (
        None, 6)
    with pytest.raises(ValueError, match="include_top"):
        headless_encoder("autoencoder_encoder", input_shape=(8, 8, 1))
    inputs = keras.Input((8, 8, 1))
    feature_map = keras.Model(inputs, keras.layers.Conv2D(2, 3)(inputs))
    with pytest.raises(ValueError, match=r"\(batch, features\)"):
        headless_encoder(feature_map, input_shape=(8, 8, 1))
    with pytest.raises(KerarchError, match="Unknown builder"):
        headless_encoder("simple_cnm", input_shape=(8, 8, 1))


# --- augmentation ------------------------------------------------------------------------


def test_full_crop_with_square_aspect_is_the_identity():
    image = tf.random.stateless_uniform((12, 12, 1), (1, 2))
    crop = random_resized_crop(image, tf.constant([3, 4], tf.int64), area=(1.0, 1.0), aspect_ratio=(1.0, 1.0))
    np.testing.assert_allclose(crop.numpy(), image.numpy(), atol=1e-6)


def test_gaussian_blur_by_hand():
    sigma = 0.8
    w = np.exp(-1 / (2 * sigma**2))
    w = np.array([w, 1.0, w]) / (1 + 2 * w)
    impulse = np.zeros((5, 5, 1), "float32")
    impulse[2, 2] = 1.0
    blurred = gaussian_blur(tf.constant(impulse), sigma).numpy()[..., 0]
    np.testing.assert_allclose(blurred[1:4, 1:4], np.outer(w, w), rtol=1e-5)
    assert blurred[0].sum() == 0.0
    flat = gaussian_blur(tf.fill((6, 6, 1), 0.3), 1.0).numpy()
    np.testing.assert_allclose(flat, 0.3, rtol=1e-6)  # weights sum to 1 and borders are reflected


def test_views_are_in_range_differ_from_each_other_and_replay_by_seed():
    view = random_view()
    image = tf.constant(np.random.default_rng(0).uniform(size=(28, 28, 1)), tf.float32)
    seed = tf.constant([7, 11], tf.int64)
    first = view(image, seed).numpy()
    assert first.shape == (28, 28, 1) and first.dtype == np.float32 and 0.0 <= first.min() and first.max() <= 1.0
    np.testing.assert_array_equal(view(image, seed).numpy(), first)
    assert not np.allclose(view(image, tf.constant([7, 12], tf.int64)).numpy(), first)


def test_two_view_pipeline_differs_between_views_and_epochs():
    images = np.random.default_rng(0).uniform(size=(8, 28, 28, 1)).astype("float32")
    ds = make_dataset(images, batch_size=8, seed=3, augment_fn=two_views(random_view()))
    ((first, second),) = next(iter(ds))
    assert first.shape == second.shape == (8, 28, 28, 1)
    assert not np.allclose(first.numpy(), second.numpy())
    epochs = [np.concatenate([v.numpy() for v in batch[0]]) for batch in (next(iter(ds)) for _ in range(2))]
    assert not np.allclose(epochs[0], epochs[1])


# --- JAX ---------------------------------------------------------------------------------


@pytest.mark.slow  # a fresh process with JAX: about 30 s
def test_simclr_and_byol_train_on_jax():
    code = (
        "import numpy as np, keras\n"
        "from kerarch.selfsup import byol, simclr\n"
        "assert keras.backend.backend() == 'jax'\n"
        "rng = np.random.default_rng(0)\n"
        "views = tuple(rng.uniform(size=(32, 8, 8, 1)).astype('float32') for _ in range(2))\n"
        "tiny = dict(encoder_args={'filters': (4, 8), 'convs_per_block': 1}, projection_units=8, projection_dim=4)\n"
        "s = simclr(input_shape=(8, 8, 1), **tiny)\n"
        "s.compile(optimizer='adam')\n"
        "assert np.isfinite(s.fit(views, batch_size=16, epochs=1, verbose=0).history['loss'][-1])\n"
        "b = byol(input_shape=(8, 8, 1), base_decay=0.5, total_steps=4, **tiny)\n"
        "b.compile(optimizer=keras.optimizers.SGD(0.5))\n"
        "before = [np.array(t) for t, _ in b.target_pairs()]\n"
        "b.fit(views, batch_size=16, epochs=1, verbose=0)\n"
        "assert float(b.target_updates.numpy()) == 2.0\n"
        "assert any(not np.allclose(np.array(t), x) for (t, _), x in zip(b.target_pairs(), before))\n"
        "print('ok')\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
