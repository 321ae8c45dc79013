"""Every recipe end to end on tiny data: artifacts, pictures, verified export."""

import json

import pytest
from PIL import Image

from kerarch import cli
from kerarch.recipe import load_recipes, run_recipe

TINY = {
    "lenet-mnist": ["epochs=2", "batch_size=32", "validation_examples=64", "quantize=int8"],
    "gan-mnist": ["epochs=1", "batch_size=32", "filters=4", "latent_dim=8", "strategy=mirrored", "devices=2"],
}


def test_every_recipe_has_a_tiny_config_here():
    assert set(load_recipes().names()) == set(TINY)


@pytest.mark.parametrize("name", sorted(TINY))
def test_recipe_end_to_end(name, workdir, idx_dataset):
    summary = run_recipe(name, [f"data_dir={idx_dataset}", "verbose=none", *TINY[name]])
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
    for picture in summary["artifacts"]["pictures"]:
        assert Image.open(workdir / picture).size[0] > 100

    export_dir = workdir / summary["export"]["dir"]
    assert {"model.keras", "saved_model", "model.tflite", "export_report.json"} <= {p.name for p in export_dir.iterdir()}
    assert summary["export"]["artifacts"]["tflite"]["max_abs_diff"] < 1e-4
    assert not list(export_dir.parent.glob(".tmp-*"))


def test_lenet_reports_float_and_int8_accuracy(workdir, idx_dataset):
    summary = run_recipe("lenet-mnist", [f"data_dir={idx_dataset}", "verbose=none", *TINY["lenet-mnist"]])
    artifacts = summary["export"]["artifacts"]
    assert artifacts["tflite_int8"]["bytes"] < 0.35 * artifacts["tflite"]["bytes"]
    assert abs(artifacts["tflite"]["accuracy"] - summary["metrics"]["test_accuracy"]) < 1e-6
    assert "accuracy" in artifacts["tflite_int8"]
    # The tiny bar dataset is learnable: int8 agrees with the float model on most samples.
    assert artifacts["tflite_int8"]["argmax_agreement"] >= 0.8


def test_gan_writes_sample_grids_and_exports_the_generator(workdir, idx_dataset):
    summary = run_recipe("gan-mnist", [f"data_dir={idx_dataset}", "verbose=none", "epochs=2", *TINY["gan-mnist"][2:]])
    run_dir = workdir / summary["run_dir"]
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == ["epoch_001.png", "epoch_002.png"]
    assert (run_dir / "samples.png").exists()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["strategy"]["replicas"] == 2
    assert summary["export"]["model"] == "dcgan_generator"
    assert set(summary["optimizer_iterations"]) == {"g_optimizer", "d_optimizer"}


def test_reexport_with_another_quantization(workdir, idx_dataset, capsys):
    summary = run_recipe("lenet-mnist", [f"data_dir={idx_dataset}", "verbose=none", "epochs=1", "validation_examples=64"])
    assert cli.main(["export", str(workdir / summary["run_dir"]), "quantize=float16"]) == 0
    export_dir = workdir / summary["export"]["dir"]
    assert (export_dir / "model_float16.tflite").exists()
    assert cli.main(["export", str(workdir / summary["run_dir"]), "epochs=3"]) == 2
    assert "accepts only quantize=, data_dir=" in capsys.readouterr().err


def test_finished_run_dir_is_not_overwritten(workdir, idx_dataset, capsys):
    args = [f"data_dir={idx_dataset}", "verbose=none", "epochs=1", "validation_examples=64", "export=false", "run_dir=runs/mine"]
    run_recipe("lenet-mnist", args)
    assert cli.main(["run", "lenet-mnist", *args]) == 2
    assert "holds a finished run" in capsys.readouterr().err
