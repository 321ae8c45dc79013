"""Training-dynamics recipes end to end on tiny data: metrics, pictures, exports."""

import json
import os

import keras
import numpy as np
import pytest
from PIL import Image

from kerarch.errors import KerarchError
from kerarch.frame import run_recipe
from tiny_data import tiny_recipe_runs, write_tiny_mnist

# name -> tiny overrides; tests/test_recipes.py checks that every recipe is covered somewhere.
TINY = {
    # Export is tested on triplet-fashion's embedder; here it would only add seconds.
    "perceptron-xor": ["epochs=60", "batch_size=200", "samples=200", "learning_rate=0.05", "hidden_units=8,8",
                       "export=false"],
    # Two of each line-up (the unit tests build every optimizer and every variant's switches).
    "optimizer-compare": ["epochs=1", "batch_size=64", "validation_examples=64", "train_examples=0", "hidden_units=16",
                          "optimizers=sgd,adamw", "learning_rates=0.1,0.001", "jit_compile=false"],
    "vanishing-gradients": ["depth=6", "width=16", "batch_size=64", "validation_examples=64", "gradient_examples=64",
                            "variants=sigmoid,sigmoid_residual", "jit_compile=false"],
    "regularization-compare": ["epochs=1", "train_examples=100", "validation_examples=64", "hidden_units=16",
                               "variants=none,augment", "jit_compile=false"],
    "triplet-fashion": ["epochs=1", "batch_size=40", "validation_examples=64", "train_examples=0", "filters=4,8",
                        "embedding_dim=8", "plot_examples=50"],
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("dynamics_recipes")
    mnist = write_tiny_mnist(workdir / "tiny_mnist")
    with tiny_recipe_runs(workdir, TINY, data_dir=mnist) as summaries:
        yield workdir, summaries


@pytest.mark.parametrize("name", sorted(TINY))
def test_dynamics_recipe_end_to_end(name, finished):
    workdir, summaries = finished
    summary = summaries[name]
    run_dir = workdir / summary["run_dir"]
    report = (run_dir / "report.md").read_text()
    assert summary["artifacts"]["pictures"]
    for picture in summary["artifacts"]["pictures"]:
        assert Image.open(workdir / picture).size[0] > 300
        assert os.path.relpath(workdir / picture, run_dir) in report
    for key, value in summary["metrics"].items():
        if key.endswith("accuracy") or "recall" in key:
            assert 0.0 <= value <= 1.0, key


def test_perceptron_fails_where_the_mlp_succeeds(finished):
    workdir, summaries = finished
    metrics = summaries["perceptron-xor"]["metrics"]
    assert metrics["xor_perceptron_accuracy"] < 0.8 < 0.9 < metrics["xor_mlp_accuracy"]
    assert metrics["moons_perceptron_accuracy"] < metrics["moons_mlp_accuracy"]


def test_optimizer_compare_trains_each_optimizer_from_the_same_start(finished):
    workdir, summaries = finished
    summary = summaries["optimizer-compare"]
    names = ("sgd", "adamw")
    for name in names:
        assert {f"{name}_test_accuracy", f"{name}_test_loss", f"{name}_final_train_loss"} <= set(summary["metrics"])
    assert summary["metrics"]["best_optimizer"] in names
    saved = json.loads((workdir / summary["run_dir"] / "histories.json").read_text())
    assert saved["optimizers"]["adamw"]["weight_decay"] == pytest.approx(0.01)
    assert saved["optimizers"]["sgd"]["learning_rate"] == pytest.approx(0.1)
    assert "export" not in summary  # export is off by default


def test_vanishing_gradients_measured_per_layer(finished):
    workdir, summaries = finished
    metrics = summaries["vanishing-gradients"]["metrics"]
    saved = json.loads((workdir / summaries["vanishing-gradients"]["run_dir"] / "gradients.json").read_text())
    assert set(saved["gradient_norms"]) == {"sigmoid", "sigmoid_residual"}
    assert all(len(norms) == 6 for norms in saved["gradient_norms"].values())
    # Six sigmoid layers shrink the gradient of the first layer far below the last one's; shortcuts do not.
    assert metrics["sigmoid_grad_ratio_first_to_last"] < 0.01
    assert metrics["sigmoid_residual_grad_ratio_first_to_last"] > 0.1
    assert metrics["sigmoid_grad_norm_layer1"] == pytest.approx(saved["gradient_norms"]["sigmoid"][0])


def test_regularization_compare_reports_the_gap(finished):
    workdir, summaries = finished
    metrics = summaries["regularization-compare"]["metrics"]
    for name in ("none", "augment"):
        expected = metrics[f"{name}_train_accuracy"] - metrics[f"{name}_test_accuracy"]
        assert metrics[f"{name}_gap"] == pytest.approx(expected)
    assert metrics["train_examples"] == 100
    assert len(summaries["regularization-compare"]["artifacts"]["pictures"]) == 2


def test_triplet_embedding_is_exported_and_scored(finished):
    workdir, summaries = finished
    summary = summaries["triplet-fashion"]
    metrics = summary["metrics"]
    for prefix in ("", "pixels_", "random_network_"):
        assert metrics[f"{prefix}recall_at_1"] <= metrics[f"{prefix}recall_at_5"]
    assert metrics["test_queries"] == 80
    # The tiny bars are told apart by pixel distance alone.
    assert metrics["pixels_recall_at_1"] > 0.9
    export = summary["export"]
    assert export["artifacts"]["tflite"]["max_abs_diff"] < 1e-4
    model = keras.saving.load_model(workdir / export["dir"] / "model.keras")
    vectors = np.asarray(model(np.random.default_rng(0).uniform(size=(3, 28, 28, 1)).astype("float32")))
    assert vectors.shape == (3, 8)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


def test_recall_at_k_by_hand():
    from kerarch.frame.metrics import recall_at_k

    points = np.array([[0.0], [0.1], [1.0], [1.2], [5.0]])
    labels = np.array([0, 1, 1, 0, 0])
    # Nearest other points: 0->1 (label 1), 1->0 (0), 2->3 (0), 3->2 (1), 4->3 (0): only query 4 hits at k=1.
    # Two nearest: 0->{1,2} miss; 1->{0,2} hit; 2->{3,1} hit; 3->{2,1} miss; 4->{3,2} hit.
    assert recall_at_k(points, labels, ks=(1, 2), chunk=2) == {1: 0.2, 2: 0.6}


@pytest.mark.parametrize("name, override", [("optimizer-compare", "learning_rates=0.1"),
                                            ("vanishing-gradients", "variants=sigmoid,tanh"),
                                            ("regularization-compare", "variants=mixup")])
def test_bad_line_ups_are_refused(name, override, workdir):
    with pytest.raises(KerarchError):
        run_recipe(name, [override, "verbose=none"])


def test_an_interrupted_comparison_retrains_only_the_unfinished_variants(workdir, monkeypatch):
    from kerarch.training.variants import FinishedVariants

    args = [f"data_dir={write_tiny_mnist(workdir / 'tiny')}", "verbose=none", *TINY["vanishing-gradients"]]
    saved, save = [], FinishedVariants.save

    def save_then_interrupt(self, name, model, record):
        save(self, name, model, record)
        saved.append(name)
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(FinishedVariants, "save", save_then_interrupt)
        with pytest.raises(KeyboardInterrupt):
            run_recipe("vanishing-gradients", args)
    (run_dir,) = (workdir / "runs" / "vanishing-gradients").iterdir()
    first = json.loads((run_dir / "variants" / "sigmoid.json").read_text())
    monkeypatch.setattr(FinishedVariants, "save", lambda self, name, *a: saved.append(name) or save(self, name, *a))
    summary = run_recipe("vanishing-gradients", args)
    assert saved == ["sigmoid", "sigmoid_residual"]
    assert summary["resumed"] and summary["run_dir"] == str(run_dir.relative_to(workdir))
    assert summary["metrics"]["sigmoid_grad_ratio_first_to_last"] == pytest.approx(
        first["gradient_norms"][0] / first["gradient_norms"][-1])
    assert not (run_dir / "backup").exists()
