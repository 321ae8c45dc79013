"""cgan-mnist and wgan-gp-mnist end to end on tiny data: report metrics, sample grids, verified export."""

import csv
import json
import math

import keras
import numpy as np
import pytest
from PIL import Image

from tiny_data import tiny_recipe_runs, write_tiny_mnist

# name -> tiny overrides; tests/test_recipes.py checks that every recipe is covered somewhere.
FID = ["fid_examples=100", "fid_classifier_epochs=1", "grid_size=4"]
TINY = {
    "cgan-mnist": ["epochs=1", "batch_size=32", "filters=4", "latent_dim=8", "embedding_dim=4", *FID],
    # Its export is gan-mnist's (the dcgan_generator), tested in test_recipes.py.
    "wgan-gp-mnist": ["epochs=2", "batch_size=16", "n_critic=2", "filters=4", "latent_dim=8", "export=false",
                      "schedule=cosine", *FID],
}
FID_KEYS = ("fid_lenet", "fid_lenet_real_floor", "classifier_score", "classifier_score_real_test")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("gan_recipes")
    data_dir = write_tiny_mnist(workdir / "tiny_mnist")
    with tiny_recipe_runs(workdir, TINY, data_dir=data_dir) as summaries:
        yield workdir, summaries


def _check_fid(metrics):
    for key in FID_KEYS:
        assert math.isfinite(metrics[key]), key
    assert metrics["fid_lenet"] >= 0.0 and metrics["fid_lenet_real_floor"] >= 0.0
    assert 1.0 <= metrics["classifier_score"] <= 10.0 and 1.0 <= metrics["classifier_score_real_test"] <= 10.0
    assert metrics["fid_examples"] == 80  # the tiny test split caps the 100 asked for


def _check_pictures(workdir, summary, epochs):
    run_dir = workdir / summary["run_dir"]
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == [f"epoch_{e:03d}.png" for e in range(1, epochs + 1)]
    for picture in summary["artifacts"]["pictures"]:
        assert Image.open(workdir / picture).size[0] > 100
    assert (run_dir / "fid_lenet.keras").exists()
    report = (run_dir / "report.md").read_text()
    assert "| fid_lenet |" in report and "| fid_lenet_real_floor |" in report


def test_cgan_reports_label_accuracy_and_fid(finished):
    workdir, summaries = finished
    summary = summaries["cgan-mnist"]
    metrics = summary["metrics"]
    _check_fid(metrics)
    assert 0.0 <= metrics["label_accuracy"] <= 1.0 and 0.0 <= metrics["classifier_accuracy_real_test"] <= 1.0
    per_class = metrics["label_accuracy_per_class"]
    assert len(per_class) == 10 and math.isclose(sum(per_class.values()) / 10, metrics["label_accuracy"])  # equal counts
    assert metrics["label_accuracy_worst_class"] == per_class[metrics["label_accuracy_worst_class_name"]] == min(
        per_class.values())
    real_per_class = metrics["classifier_accuracy_real_test_per_class"]
    assert set(real_per_class) == set(per_class) and all(0.0 <= v <= 1.0 for v in real_per_class.values())
    assert math.isfinite(metrics["fid_lenet_intra_class"]) and math.isfinite(metrics["fid_lenet_intra_class_real_floor"])
    _check_pictures(workdir, summary, epochs=1)
    # One row per class: a 10-row grid is taller than it is wide with 4 samples per row.
    width, height = Image.open(workdir / summary["run_dir"] / "samples.png").size
    assert height > 2 * width


def test_cgan_exports_the_generator_with_noise_and_label_in_one_input(finished):
    workdir, summaries = finished
    export = summaries["cgan-mnist"]["export"]
    assert export["model"] == "cgan_generator"
    assert export["artifacts"]["tflite"]["max_abs_diff"] < 1e-4
    model = keras.saving.load_model(workdir / export["dir"] / "model.keras")
    noise = np.random.default_rng(0).normal(size=(2, 8)).astype("float32")
    packed = np.concatenate([np.concatenate([noise, [[3.0], [3.0]]], axis=1),
                             np.concatenate([noise, [[7.0], [7.0]]], axis=1)])
    images = np.asarray(model.predict(packed, verbose=0))
    assert images.shape == (4, 28, 28, 1)
    assert not np.allclose(images[:2], images[2:], atol=1e-4)  # the class id in the last column matters


def test_wgan_gp_logs_the_wasserstein_estimate_per_epoch(finished):
    workdir, summaries = finished
    summary = summaries["wgan-gp-mnist"]
    metrics = summary["metrics"]
    _check_fid(metrics)
    assert math.isfinite(metrics["wasserstein_estimate_test"])
    _check_pictures(workdir, summary, epochs=2)
    with open(workdir / summary["run_dir"] / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and all(math.isfinite(float(row["wasserstein_estimate"])) for row in rows)
    assert "gradient_penalty" in rows[0]
    # 320 images in batches of n_critic x 16 = 32: 10 generator and 20 critic steps per epoch.
    assert summary["optimizer_iterations"] == {"g_optimizer": 20, "d_optimizer": 40}
    # Each network's schedule spans exactly the steps it takes.
    optimizers = json.loads((workdir / summary["run_dir"] / "config.json").read_text())["training"]["optimizers"]
    assert {name: described["learning_rate"]["decay_steps"] for name, described in optimizers.items()} == {
        "g_optimizer": 20, "d_optimizer": 40}
