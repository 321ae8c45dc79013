"""Vision recipes end to end on tiny data."""

import json
import math
import os

import keras
import numpy as np
import pytest

from kerarch.errors import KerarchError
from kerarch.frame import run_recipe
from tiny_data import tiny_recipe_runs, write_tiny_cifar10, write_tiny_mnist

# name -> tiny overrides; tests/test_recipes.py checks that every recipe is covered somewhere.
TINY = {
    "resnet-cifar10": ["epochs=2", "batch_size=16", "depth=8", "validation_examples=20", "warmup_epochs=0.5"],
    "resnet-fashion-mnist": ["epochs=1", "batch_size=32", "depth=8", "validation_examples=64", "schedule=step",
                             "shortcut=b"],
    "mobilenet-fashion-int8": ["epochs=1", "batch_size=32", "alpha=0.35", "validation_examples=64", "latency_runs=5",
                               "prune=0.5", "prune_frequency=1", "prune_end=0.5"],
    "vit-fashion-mnist": ["epochs=1", "batch_size=32", "patch_size=7", "hidden_dim=16", "depth=1", "num_heads=2",
                          "mlp_dim=16", "validation_examples=64"],
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("vision_recipes")
    data = {"resnet-cifar10": write_tiny_cifar10(workdir / "cifar-10-batches-py")}
    mnist = write_tiny_mnist(workdir / "tiny_mnist")
    with tiny_recipe_runs(workdir, TINY, data_dir=mnist, data_dirs=data) as summaries:
        yield workdir, summaries


@pytest.mark.parametrize("name", sorted(TINY))
def test_vision_recipe_end_to_end(name, finished):
    workdir, summaries = finished
    summary = summaries[name]
    metrics = summary["metrics"]
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and math.isfinite(metrics["test_loss"])
    run_dir = workdir / summary["run_dir"]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["data_source"].startswith("data_dir")
    assert (run_dir / "report.md").read_text().count("| test_accuracy |") == 1
    export = summary["export"]
    assert export["artifacts"]["tflite"]["max_abs_diff"] < 1e-4
    assert (workdir / export["dir"] / "model.keras").exists()


def test_resnet_uses_the_requested_depth_and_schedule(finished):
    workdir, summaries = finished
    config = json.loads((workdir / summaries["resnet-cifar10"]["run_dir"] / "config.json").read_text())["config"]
    assert config["depth"] == 8 and config["schedule"] == "warmup_cosine" and config["precision"] == "float32"
    model = keras.saving.load_model(workdir / summaries["resnet-cifar10"]["export"]["dir"] / "model.keras")
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 1 + 2 * 3  # depth 8 = 6n + 2 with n = 1: stem + 3 stages of one basic block
    assert all(layer.kernel.regularizer is None for layer in convs)  # weight decay stays out of the export
    assert summaries["resnet-cifar10"]["optimizer_iterations"]["optimizer"] == 2 * math.ceil(100 / 16)
    assert any(picture.endswith("learning_rate.png") for picture in summaries["resnet-cifar10"]["artifacts"]["pictures"])


def test_mobilenet_reports_the_mobile_numbers(finished):
    workdir, summaries = finished
    summary = summaries["mobilenet-fashion-int8"]
    metrics = summary["metrics"]
    for key in ("keras_accuracy", "tflite_accuracy", "tflite_int8_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["keras_accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)  # the whole test set
    assert metrics["int8_accuracy_drop_points"] == pytest.approx(
        100 * (metrics["keras_accuracy"] - metrics["tflite_int8_accuracy"]), abs=0.01)
    assert metrics["tflite_latency_ms"] > 0 and metrics["tflite_int8_latency_ms"] > 0
    assert metrics["tflite_int8_bytes"] < 0.5 * metrics["tflite_bytes"]
    assert metrics["int8_size_vs_float"] == pytest.approx(metrics["tflite_int8_bytes"] / metrics["tflite_bytes"], abs=1e-4)
    export_dir = workdir / summary["export"]["dir"]
    report = json.loads((export_dir / "export_report.json").read_text())
    assert report["artifacts"]["tflite_int8"]["input"]["dtype"] == "int8"
    assert report["quantization"]["int8"]["weights"] == "per_tensor"  # this recipe's default
    assert report["input_shape"] == [None, 32, 32, 1]  # 28x28 padded to MobileNetV2's smallest input


def test_mobilenet_pruning_is_in_the_export_and_the_report(finished):
    workdir, summaries = finished
    summary = summaries["mobilenet-fashion-int8"]
    run_dir = workdir / summary["run_dir"]
    sparsity = json.loads((run_dir / "sparsity.json").read_text())
    pruned = [row for row in sparsity["layers"] if row["layer"] != "predictions"]
    assert all(row["sparsity"] >= 0.49 for row in pruned)
    assert summary["metrics"]["sparsity"] == sparsity["sparsity"]
    assert summary["metrics"]["weights_gzip_bytes"] < summary["metrics"]["weights_gzip_bytes_before_pruning"]
    exported = keras.saving.load_model(workdir / summary["export"]["dir"] / "model.keras")
    kernel = keras.ops.convert_to_numpy(exported.get_layer("block16_pw_conv").kernel)
    assert np.mean(kernel == 0) >= 0.49  # the exported model is the pruned one


def test_missing_data_leaves_no_run_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KERAS_HOME", os.fspath(tmp_path / "keras"))
    monkeypatch.setenv("TFDS_DATA_DIR", os.fspath(tmp_path / "tfds"))
    with pytest.raises(KerarchError, match="No copy of CIFAR-10"):
        run_recipe("resnet-cifar10", ["verbose=none"])
    assert not list((tmp_path / "runs" / "resnet-cifar10").iterdir())
