"""Every recipe end to end on tiny data: artifacts, pictures, verified export."""

import importlib
import json
import math
from pathlib import Path

import pytest
from PIL import Image

from kerarch import cli
from kerarch.frame import run_recipe
from kerarch.registry import RECIPES
from tiny_data import write_tiny_mnist

TINY = {
    "lenet-mnist": ["epochs=2", "batch_size=32", "validation_examples=64", "quantize=int8"],
    "gan-mnist": ["epochs=2", "batch_size=32", "filters=4", "latent_dim=8", "strategy=mirrored", "devices=2"],
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """Runs each recipe once on the tiny IDX data; yields (workdir, {name: summary})."""
    workdir = tmp_path_factory.mktemp("recipes")
    data_dir = write_tiny_mnist(workdir / "tiny")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        yield workdir, {name: run_recipe(name, [f"data_dir={data_dir}", "verbose=none", *args]) for name, args in TINY.items()}


def test_every_recipe_has_a_tiny_config_here():
    """Each recipe runs end to end in this module or in a tests/test_*_recipes.py module's TINY dict."""
    covered = dict(TINY)
    for path in Path(__file__).parent.glob("test_*_recipes.py"):
        covered.update(importlib.import_module(path.stem).TINY)
    assert set(RECIPES.names()) == set(covered)


@pytest.mark.parametrize("name", sorted(TINY))
def test_recipe_end_to_end(name, finished):
    workdir, summaries = finished
    summary = summaries[name]
    run_dir = workdir / summary["run_dir"]
    for artifact in ("config.json", "metrics.csv", "curves.png", "summary.json", "report.md", "log.txt"):
        assert (run_dir / artifact).exists(), artifact
    assert any((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert not (run_dir / "backup").exists()  # a finished run keeps no backup

    config = json.loads((run_dir / "config.json").read_text())
    assert config["data_source"].startswith("data_dir")
    assert {"tensorflow", "keras", "python"} <= set(config["versions"])
    report = (run_dir / "report.md").read_text()
    assert "![Training curves](curves.png)" in report and "| file | bytes |" in report
    assert "**Note:**" not in report  # real MNIST-format data: no fallback notice
    for picture in summary["artifacts"]["pictures"]:
        assert Image.open(workdir / picture).size[0] > 100

    export_dir = workdir / summary["export"]["dir"]
    assert {"model.keras", "saved_model", "model.tflite", "export_report.json"} <= {p.name for p in export_dir.iterdir()}
    assert summary["export"]["artifacts"]["tflite"]["max_abs_diff"] < 1e-4
    assert not list(export_dir.parent.glob(".tmp-*"))


def test_lenet_reports_float_and_int8_accuracy(finished):
    summary = finished[1]["lenet-mnist"]
    artifacts = summary["export"]["artifacts"]
    assert artifacts["tflite_int8"]["bytes"] < 0.35 * artifacts["tflite"]["bytes"]
    assert abs(artifacts["tflite"]["accuracy"] - summary["metrics"]["test_accuracy"]) < 1e-6
    assert "accuracy" in artifacts["tflite_int8"]
    # The tiny bar dataset is learnable: int8 agrees with the float model on most samples.
    assert artifacts["tflite_int8"]["argmax_agreement"] >= 0.8


def test_gan_writes_sample_grids_on_two_replicas_and_exports_the_generator(finished):
    workdir, summaries = finished
    summary = summaries["gan-mnist"]
    run_dir = workdir / summary["run_dir"]
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == ["epoch_001.png", "epoch_002.png"]
    assert (run_dir / "samples.png").exists()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["strategy"]["replicas"] == 2
    assert summary["export"]["model"] == "dcgan_generator"
    assert summary["optimizer_iterations"] == {"g_optimizer": 2 * (320 // 32), "d_optimizer": 2 * (320 // 32)}
    optimizers = config["training"]["optimizers"]
    assert {name: (o["class"], o["beta_1"], o["learning_rate"]) for name, o in optimizers.items()} == {
        "g_optimizer": ("Adam", 0.5, 2e-4), "d_optimizer": ("Adam", 0.5, 2e-4)}
    metrics = summary["metrics"]
    for key in ("fid_lenet", "fid_lenet_real_floor", "classifier_score", "classifier_score_real_test"):
        assert math.isfinite(metrics[key]), key
    assert metrics["fid_examples"] == 80 and 1.0 <= metrics["classifier_score_real_test"] <= 10.0


def test_the_resolved_optimizer_is_recorded_and_its_learning_rate_logged(finished):
    workdir, summaries = finished
    run_dir = workdir / summaries["lenet-mnist"]["run_dir"]
    training = json.loads((run_dir / "config.json").read_text())["training"]
    optimizer = training["optimizers"]["optimizer"]
    assert (optimizer["class"], optimizer["beta_1"], training["loss"]) == ("Adam", 0.9, "sparse_categorical_crossentropy")
    # lenet-mnist's default schedule: cosine decay from 1e-3 to 0 over the run's 2 epochs of 8 steps.
    assert {k: optimizer["learning_rate"][k] for k in ("schedule", "initial_learning_rate", "decay_steps")} == {
        "schedule": "CosineDecay", "initial_learning_rate": 0.001, "decay_steps": 16}
    assert "Optimizer `optimizer`: class=Adam" in (run_dir / "report.md").read_text()
    header, *rows = (run_dir / "metrics.csv").read_text().splitlines()
    column = header.split(",").index("learning_rate")
    assert [float(row.split(",")[column]) for row in rows] == pytest.approx([0.0005, 0.0], abs=1e-9)


def test_reexport_with_another_quantization(finished, capsys):
    workdir, summaries = finished
    run_dir = str(workdir / summaries["lenet-mnist"]["run_dir"])
    assert cli.main(["export", run_dir, "quantize=float16"]) == 0
    export_dir = workdir / summaries["lenet-mnist"]["export"]["dir"]
    assert (export_dir / "model_float16.tflite").exists()
    assert cli.main(["export", run_dir, "epochs=3"]) == 2
    assert "accepts only format=, quantize=, int8_granularity=, data_dir=" in capsys.readouterr().err
    assert cli.main(["export", run_dir, "format=tflite", "quantize=int8", "int8_granularity=per_tensor"]) == 0
    assert sorted(p.name for p in export_dir.iterdir()) == ["export_report.json", "model.tflite", "model_int8.tflite"]
    report = json.loads((export_dir / "export_report.json").read_text())
    assert report["formats"] == ["tflite"] and report["artifacts"]["saved_model"]["kept"] is False
    assert report["quantization"]["int8"]["weights"] == "per_tensor"
    assert cli.main(["export", run_dir, "format=onnx"]) == 2
    assert "Unknown export format(s) ['onnx']" in capsys.readouterr().err


def test_finished_run_dir_is_not_resumed(finished, capsys):
    workdir, summaries = finished
    assert cli.main(["run", "lenet-mnist", f"run_dir={summaries['lenet-mnist']['run_dir']}"]) == 2
    assert "holds a finished run" in capsys.readouterr().err


def test_report_carries_the_data_fallback_notice(tmp_path):
    from kerarch.training.run import Run

    run = Run("lenet-mnist", tmp_path / "run", {"epochs": 1}, overrides=["epochs=1"])
    run.path.mkdir()
    run.info.update(data_source="Debian package dataset-fashion-mnist", data_notice="MNIST was not found, so Fashion-MNIST is used.")
    summary = run.finish(metrics={"test_accuracy": 0.5})
    report = (run.path / "report.md").read_text()
    assert "> **Note:** MNIST was not found, so Fashion-MNIST is used." in report
    assert 'Reproduce: `make recipe NAME=lenet-mnist ARGS="epochs=1"`' in report
    assert json.loads((run.path / "summary.json").read_text())["metrics"] == summary["metrics"] == {"test_accuracy": 0.5}


def test_steps_per_execution_is_recorded_and_changes_no_number(finished):
    """Keras runs 3 steps per compiled call (8 steps an epoch: the last call runs 2); same steps, same model."""
    workdir, summaries = finished
    data_dir = workdir / "tiny"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        grouped = run_recipe("lenet-mnist", [f"data_dir={data_dir}", "verbose=none", "export=false",
                                             "steps_per_execution=3", *TINY["lenet-mnist"]])
    config = json.loads((workdir / grouped["run_dir"] / "config.json").read_text())
    assert config["config"]["steps_per_execution"] == 3
    assert grouped["optimizer_iterations"] == summaries["lenet-mnist"]["optimizer_iterations"] == {"optimizer": 16}
    single = summaries["lenet-mnist"]["metrics"]
    for key in ("test_accuracy", "test_loss"):
        assert grouped["metrics"][key] == pytest.approx(single[key], abs=1e-6), key
