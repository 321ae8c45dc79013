"""Self-supervised recipes end to end on tiny data: three linear probes, pictures, the exported encoder."""

import json

import keras
import numpy as np
import pytest
from PIL import Image

from kerarch.errors import KerarchError
from kerarch.frame import run_recipe
from tiny_data import tiny_recipe_runs, write_tiny_mnist

_TINY_MODEL = ["batch_size=32", "filters=4,8", "projection_units=8", "projection_dim=4", "pca_examples=40"]
# name -> tiny overrides; tests/test_recipes.py checks that every recipe is covered somewhere.
TINY = {
    "simclr-fashion": ["epochs=1", "probe_examples=160", *_TINY_MODEL],
    "byol-fashion": ["epochs=1", "export=false", *_TINY_MODEL],
}
PROBES = ("pretrained_probe_accuracy", "random_probe_accuracy", "supervised_probe_accuracy")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("selfsup_recipes")
    data_dir = write_tiny_mnist(workdir / "tiny_mnist")
    with tiny_recipe_runs(workdir, TINY, data_dir=data_dir) as summaries:
        yield workdir, summaries


@pytest.mark.parametrize("name", sorted(TINY))
def test_selfsup_recipe_reports_three_probes_and_pictures(name, finished):
    workdir, summaries = finished
    summary = summaries[name]
    metrics = summary["metrics"]
    for key in PROBES + ("supervised_classifier_test_accuracy",):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["pretrain_examples"] == 320 and metrics["feature_dim"] == 8
    assert metrics["probe_examples"] == (160 if name == "simclr-fashion" else 320)
    assert np.isfinite(metrics["final_pretrain_loss"])
    run_dir = workdir / summary["run_dir"]
    report = (run_dir / "report.md").read_text()
    assert all(report.count(f"| {key} |") == 1 for key in PROBES)
    for picture in ("views.png", "features_pca.png", "curves.png"):
        assert Image.open(run_dir / picture).size[0] > 200, picture
        assert f"]({picture})" in report
    config = json.loads((run_dir / "config.json").read_text())
    assert config["data_source"].startswith("data_dir")


def test_simclr_exports_the_encoder_as_a_feature_extractor(finished):
    workdir, summaries = finished
    export = summaries["simclr-fashion"]["export"]
    encoder = keras.saving.load_model(workdir / export["dir"] / "model.keras")
    assert encoder.name == "simclr_encoder" and encoder.input_shape == (None, 28, 28, 1)
    assert encoder.output_shape == (None, 8)
    assert export["artifacts"]["tflite"]["max_abs_diff"] < 1e-4


def test_byol_schedule_spans_the_whole_run(finished):
    workdir, summaries = finished
    model = keras.saving.load_model(workdir / summaries["byol-fashion"]["run_dir"] / "checkpoints" / "best.keras")
    assert model.total_steps == 320 // 32  # one epoch of whole batches
    assert float(keras.ops.convert_to_numpy(model.target_updates)) == model.total_steps


def test_bad_options_are_explained_before_the_run_starts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data_dir = write_tiny_mnist(tmp_path / "tiny", train=20, test=10)
    with pytest.raises(KerarchError, match="whole batches"):
        run_recipe("simclr-fashion", [f"data_dir={data_dir}", "verbose=none", "batch_size=32"])
    with pytest.raises(KerarchError, match="crop_area"):
        run_recipe("byol-fashion", [f"data_dir={data_dir}", "verbose=none", "batch_size=8", "crop_area=0.5"])
    with pytest.raises(KerarchError, match="cannot serve as the encoder"):
        run_recipe("simclr-fashion", [f"data_dir={data_dir}", "verbose=none", "batch_size=8", "encoder=vae"])
    with pytest.raises(KerarchError, match="base_decay"):
        run_recipe("byol-fashion", [f"data_dir={data_dir}", "verbose=none", "base_decay=1.5"])
    assert not list((tmp_path / "runs" / "byol-fashion").iterdir())
