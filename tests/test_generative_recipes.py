"""Autoencoder and VAE recipes end to end on tiny data."""

import json
import math
import os

import keras
import numpy as np
import pytest
from PIL import Image

from tiny_data import tiny_recipe_runs, write_tiny_mnist

# name -> tiny overrides; tests/test_recipes.py checks that every recipe is covered somewhere.
TINY = {
    "autoencoder-fashion": ["epochs=2", "batch_size=32", "latent_dim=8", "filters=4", "hidden_units=16",
                            "validation_examples=64", "denoise=true", "noise_stddev=0.2"],
    "vae-mnist": ["epochs=2", "batch_size=32", "filters=4", "hidden_units=16", "validation_examples=64",
                  "grid_size=4"],
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("generative_recipes")
    data_dir = write_tiny_mnist(workdir / "tiny_mnist")
    with tiny_recipe_runs(workdir, TINY, data_dir=data_dir) as summaries:
        yield workdir, summaries


def _pictures(workdir, summary):
    return {os.path.basename(p): Image.open(workdir / p) for p in summary["artifacts"]["pictures"]}


def test_autoencoder_is_measured_against_pca_on_noisy_inputs(finished):
    workdir, summaries = finished
    summary = summaries["autoencoder-fashion"]
    metrics = summary["metrics"]
    assert metrics["test_mse"] > 0 and metrics["pca_test_mse"] > 0
    assert metrics["mse_ratio_to_pca"] == pytest.approx(metrics["test_mse"] / metrics["pca_test_mse"])
    assert 0.0 < metrics["pca_explained_variance"] <= 1.0
    assert metrics["noisy_input_mse"] == pytest.approx(0.2**2, rel=0.1)  # the corruption itself: sigma^2
    grid = _pictures(workdir, summary)["reconstructions.png"]
    assert grid.size[1] > 200  # four rows: original, noisy input, autoencoder, PCA
    export = summary["export"]
    assert export["artifacts"]["tflite"]["max_abs_diff"] < 1e-4
    model = keras.saving.load_model(workdir / export["dir"] / "model.keras")
    x = np.full((1, 28, 28, 1), 0.5, "float32")
    np.testing.assert_allclose(model(x, training=False), model(x, training=False))  # no noise at inference


def test_vae_reports_the_elbo_terms_and_pictures(finished):
    workdir, summaries = finished
    summary = summaries["vae-mnist"]
    metrics = summary["metrics"]
    assert metrics["test_kl_nats"] >= 0 and metrics["test_reconstruction_nats"] > 0
    assert metrics["test_neg_elbo_nats"] == pytest.approx(metrics["test_reconstruction_nats"] + metrics["test_kl_nats"])
    assert 0 <= metrics["active_latent_dims"] <= 2
    assert {"samples.png", "reconstructions.png", "latent_space.png", "manifold.png"} <= set(_pictures(workdir, summary))
    run_dir = workdir / summary["run_dir"]
    header = (run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"kl_loss", "reconstruction_loss", "val_kl_loss", "val_reconstruction_loss"} <= set(header)
    # The ELBO on the test set is of the same size as the last validation loss (same data distribution).
    last = dict(zip(header, (run_dir / "metrics.csv").read_text().splitlines()[-1].split(",")))
    assert math.isclose(metrics["test_neg_elbo_nats"], float(last["val_loss"]), rel_tol=0.5)
    decoder = keras.saving.load_model(workdir / summary["export"]["dir"] / "model.keras")
    assert decoder.input_shape == (None, 2) and decoder.output_shape == (None, 28, 28, 1)
    assert json.loads((run_dir / "config.json").read_text())["config"]["latent_dim"] == 2
