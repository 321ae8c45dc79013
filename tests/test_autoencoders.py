"""Autoencoder and VAE builders: shapes, round trips, the KL term by hand, training steps."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import kerarch
from kerarch.generative import VAE, autoencoder, kl_divergence, vae


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_autoencoder_shapes_and_round_trip(kind, tmp_path):
    model = autoencoder(image_shape=(28, 28, 1), latent_dim=8, kind=kind, filters=4, hidden_units=(16,))
    x = np.random.default_rng(0).uniform(size=(3, 28, 28, 1)).astype("float32")
    y = model.predict(x, verbose=0)
    assert y.shape == x.shape and 0.0 <= y.min() and y.max() <= 1.0
    model.save(tmp_path / "ae.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "ae.keras").predict(x, verbose=0), y, atol=1e-6)


def test_denoising_noise_acts_only_in_training():
    model = autoencoder(image_shape=(8, 8, 1), latent_dim=4, kind="dense", hidden_units=(8,), noise_stddev=0.5)
    x = np.full((2, 8, 8, 1), 0.5, "float32")
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))
    assert not np.allclose(model(x, training=True), model(x, training=False))


def test_autoencoder_rejects_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        autoencoder(kind="rnn")
    with pytest.raises(ValueError, match="divisible by 4"):
        autoencoder(image_shape=(30, 30, 1), kind="conv")


def test_kl_divergence_by_hand():
    z_mean = np.array([[0.0, 1.0], [2.0, -1.0]], "float32")
    z_log_var = np.array([[0.0, 0.0], [np.log(2.0), 0.0]], "float32")
    # -0.5 * sum(1 + log_var - mean^2 - var): row 1 = 0 + 0.5; row 2 = 0.5 * (2 - 1 - log 2 + 4) + 0.5
    expected = [0.5, 0.5 * (2.0 - 1.0 - np.log(2.0) + 4.0) + 0.5]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(kl_divergence(z_mean, z_log_var)), expected, rtol=1e-6)


def test_vae_trains_logs_both_terms_and_round_trips(tmp_path):
    model = vae(image_shape=(8, 8, 1), latent_dim=2, kind="conv", filters=4, hidden_units=(16,), seed=1)
    assert kerarch.build("vae", image_shape=(8, 8, 1), latent_dim=2).name == "vae"
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    x = (np.random.default_rng(0).uniform(size=(64, 8, 8, 1)) > 0.5).astype("float32")
    history = model.fit(x, epochs=3, batch_size=16, verbose=0).history
    assert {"loss", "reconstruction_loss", "kl_loss"} <= set(history)
    assert history["loss"][-1] < history["loss"][0]
    assert history["kl_loss"][-1] >= 0.0
    assert history["loss"][-1] == pytest.approx(history["reconstruction_loss"][-1] + history["kl_loss"][-1], rel=1e-4)
    model.save(tmp_path / "vae.keras")
    restored = keras.saving.load_model(tmp_path / "vae.keras")
    assert isinstance(restored, VAE) and restored.reconstruction == "bce"
    np.testing.assert_allclose(restored.encoder.predict(x[:4], verbose=0)[0], model.encoder.predict(x[:4], verbose=0)[0],
                               atol=1e-6)


def test_vae_trains_under_mixed_bfloat16():
    """The sampled noise takes the latent's dtype (it used to be float32 against bfloat16 latents)."""
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        model = vae(image_shape=(8, 8, 1), latent_dim=2, kind="conv", filters=4, hidden_units=(16,), seed=1)
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
        x = (np.random.default_rng(0).uniform(size=(32, 8, 8, 1)) > 0.5).astype("float32")
        history = model.fit(x, epochs=2, batch_size=16, verbose=0).history
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert model.encoder.outputs[0].dtype == "bfloat16"
    assert np.isfinite(history["loss"]).all() and history["kl_loss"][-1] >= 0.0


def test_vae_reconstruction_term_by_hand():
    model = vae(image_shape=(4, 4, 1), latent_dim=2, kind="dense", hidden_units=(4,), reconstruction="mse")
    images = np.zeros((1, 4, 4, 1), "float32")
    reconstructed = np.full((1, 4, 4, 1), 0.5, "float32")
    assert float(model.reconstruction_error(images, reconstructed)[0]) == pytest.approx(16 * 0.25)


@pytest.mark.slow  # a JAX subprocess: ~30 s
def test_vae_trains_on_jax():
    code = (
        "import numpy as np, keras\n"
        "from kerarch.generative import vae\n"
        "assert keras.backend.backend() == 'jax'\n"
        "m = vae(image_shape=(8, 8, 1), latent_dim=2, kind='dense', hidden_units=(8,), seed=0)\n"
        "m.compile(optimizer='adam')\n"
        "h = m.fit(np.random.default_rng(0).uniform(size=(32, 8, 8, 1)).astype('float32'), epochs=2, verbose=0)\n"
        "assert np.isfinite(h.history['kl_loss'][-1])\n"
        "print('ok')\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-2000:]
