"""Graph recipes end to end: gcn-karate on the real club, gcn-cora on a tiny Cora-format dataset."""

import json
import os

import pytest
from PIL import Image

from kerarch import cli
from kerarch.errors import KerarchError
from kerarch.frame import run_recipe
from test_data_graphs import write_tiny_cora
from tiny_data import tiny_recipe_runs

# name -> tiny overrides; tests/test_recipes.py checks that every recipe is covered somewhere.
TINY = {
    "gcn-karate": ["epochs=10", "model=gat", "hidden_units=4", "heads=2", "dropout=0.0", "export=false"],
    "gcn-cora": ["epochs=10", "hidden_units=8", "learning_rate=0.05", "train_per_class=3", "val_size=10",
                 "test_size=20"],
}

@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("graph_recipes")
    data = {"gcn-cora": write_tiny_cora(workdir / "cora")}
    with tiny_recipe_runs(workdir, TINY, data_dirs=data) as summaries:
        yield workdir, summaries


@pytest.mark.parametrize("name", sorted(TINY))
def test_graph_recipe_end_to_end(name, finished):
    workdir, summaries = finished
    summary = summaries[name]
    metrics = summary["metrics"]
    for key in ("train_accuracy", "test_accuracy", "label_propagation_test_accuracy", "features_only_test_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0, key
    run_dir = workdir / summary["run_dir"]
    assert (run_dir / "report.md").read_text().count("| test_accuracy |") == 1
    for picture in summary["artifacts"]["pictures"]:
        assert Image.open(workdir / picture).size[0] > 300


def test_karate_runs_on_the_real_club_with_a_gat(finished):
    workdir, summaries = finished
    summary = summaries["gcn-karate"]
    metrics = summary["metrics"]
    assert metrics["model"] == "gat" and metrics["train_accuracy"] == 1.0
    assert metrics["features_only_test_accuracy"] == 0.5  # one-hot ids tell nothing about unseen nodes
    assert metrics["label_propagation_test_accuracy"] > 0.9
    assert "val_accuracy" not in metrics  # no validation nodes
    assert summary["optimizer_iterations"]["optimizer"] == 10  # one full-graph step per epoch
    assert "export" not in summary
    assert [p.rsplit("/", 1)[-1] for p in summary["artifacts"]["pictures"]] == ["curves.png", "karate.png"]


def test_cora_learns_the_tiny_graph_and_reexports(finished, monkeypatch):
    workdir, summaries = finished
    summary = summaries["gcn-cora"]
    metrics = summary["metrics"]
    assert metrics["val_accuracy"] >= 0.0 and metrics["test_accuracy"] > 0.6  # 3 classes: chance is 1/3
    config = json.loads((workdir / summary["run_dir"] / "config.json").read_text())
    assert config["data_source"].startswith("data_dir") and config["config"]["hidden_units"] == [8]
    export = summary["export"]
    assert {entry["path"] for entry in export["artifacts"].values()} == {"model.keras", "saved_model", "model.tflite"}
    assert all(entry["max_abs_diff"] < 1e-4 for entry in export["artifacts"].values())
    assert export["input_shapes"] == {"features": [None, 12], "edge_index": [2, None]}
    export_dir = workdir / export["dir"]
    assert sorted(p.name for p in export_dir.iterdir()) == ["export_report.json", "model.keras", "model.tflite",
                                                            "saved_model"]
    assert not list(export_dir.parent.glob(".tmp-*"))
    monkeypatch.chdir(workdir)
    assert cli.main(["export", summary["run_dir"], "format=keras"]) == 0
    assert sorted(p.name for p in export_dir.iterdir()) == ["export_report.json", "model.keras"]
    # Two inputs, one TFLite file: the whole graph calibrates int8 and checks each file.
    assert cli.main(["export", summary["run_dir"], "format=tflite", "quantize=int8"]) == 0
    assert sorted(p.name for p in export_dir.iterdir()) == ["export_report.json", "model.tflite", "model_int8.tflite"]
    int8 = json.loads((export_dir / "export_report.json").read_text())["artifacts"]["tflite_int8"]
    assert int8["inputs"]["features"]["dtype"] == "int8" and int8["argmax_agreement"] >= 0.9


def test_cora_without_files_explains_and_leaves_no_run(workdir, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", os.fspath(workdir / "keras"))
    with pytest.raises(KerarchError, match="TensorFlow Datasets has no Cora.*data_dir="):
        run_recipe("gcn-cora", ["verbose=none"])
    assert not list((workdir / "runs" / "gcn-cora").iterdir())


def test_graph_recipes_refuse_what_they_cannot_do(workdir):
    with pytest.raises(KerarchError, match="cannot be split across 2 replicas"):
        run_recipe("gcn-karate", ["verbose=none", "strategy=mirrored", "devices=2"])
