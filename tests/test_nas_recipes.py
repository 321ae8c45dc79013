"""nas-fashion end to end on tiny data: interrupted after the searches, resumed, compared, exported."""

import json
import re

import keras
import pytest

from kerarch.errors import KerarchError
from kerarch.frame import run_recipe
from kerarch.nas import NasTuner
from kerarch.registry import RECIPES
from tiny_data import write_tiny_mnist

# name -> tiny overrides; tests/test_recipes.py checks that every recipe is covered somewhere.
TINY = {
    "nas-fashion": ["trials=1", "epochs=1", "batch_size=32", "validation_examples=64", "max_stages=2",
                    "filters=4,8", "dense_units=0,8", "population_size=1", "sample_size=1", "baselines=lenet5"],
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """Runs nas-fashion, kills it (KeyboardInterrupt) after both searches, and runs it again: it resumes."""
    workdir = tmp_path_factory.mktemp("nas_recipes")
    args = [f"data_dir={write_tiny_mnist(workdir / 'tiny')}", "verbose=none", *TINY["nas-fashion"]]
    trials_run = []
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        run_trial = NasTuner.run_trial
        patch.setattr(NasTuner, "run_trial", lambda self, trial, *a, **k: trials_run.append(self.project_name)
                      or run_trial(self, trial, *a, **k))
        with patch.context() as interrupt:
            interrupt.setattr(RECIPES.get("nas-fashion"), "train_baselines", _interrupt)
            with pytest.raises(KeyboardInterrupt):
                run_recipe("nas-fashion", args)
        interrupted = sorted(trials_run)
        trials_run.clear()
        summary = run_recipe("nas-fashion", args)
    yield workdir, summary, interrupted, trials_run


def _interrupt(*args):
    raise KeyboardInterrupt


def test_nas_recipe_resumes_the_interrupted_run_without_retraining(finished):
    workdir, summary, interrupted, resumed = finished
    assert interrupted == ["evolution", "reinforce"] and resumed == []  # one trial each, none run again
    assert summary["resumed"] is True
    assert len(list((workdir / "runs" / "nas-fashion").iterdir())) == 1  # the same run folder
    run_dir = workdir / summary["run_dir"]
    assert not (run_dir / "backup").exists()  # a finished run keeps no resume marker
    for strategy in ("evolution", "reinforce"):
        assert (run_dir / "search" / strategy / "oracle.json").exists()
        assert (run_dir / "search" / strategy / "trial_0" / "model.keras").exists()


def test_nas_recipe_reports_the_best_architecture_against_the_baselines(finished):
    workdir, summary, _, _ = finished
    metrics = summary["metrics"]
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and 0.0 <= metrics["val_accuracy"] <= 1.0
    assert metrics["best_search"] in ("evolution", "reinforce")
    assert metrics["val_accuracy"] == max(metrics["evolution_val_accuracy"], metrics["reinforce_val_accuracy"])
    assert metrics["params"] == metrics[f"{metrics['best_search']}_params"]
    assert re.fullmatch(r"([48]x[35]x[35] (plain|residual|separable)( \| )?){1,2}(dense 8|no dense)",
                        metrics["best_architecture"])
    assert metrics["evolution_trials"] == metrics["reinforce_trials"] == 1
    assert metrics["lenet5_params"] == 61_706 and 0.0 <= metrics["lenet5_test_accuracy"] <= 1.0
    assert "simple_cnn_params" not in metrics  # not asked for

    run_dir = workdir / summary["run_dir"]
    search = json.loads((run_dir / "search.json").read_text())
    assert set(search["searches"]) == {"evolution", "reinforce"}
    assert set(search["baselines"]) == {"lenet5"}
    best = search["searches"][metrics["best_search"]]
    assert best["architecture"] == metrics["best_architecture"]
    assert best["trials"][0]["metrics"]["params"] == metrics["params"]
    assert "![Validation accuracy per trial" in (run_dir / "report.md").read_text()
    assert (run_dir / "search.png").stat().st_size > 10_000


def test_nas_recipe_exports_the_best_model(finished):
    workdir, summary, _, _ = finished
    export = summary["export"]
    assert export["artifacts"]["tflite"]["max_abs_diff"] < 1e-4
    assert export["artifacts"]["tflite"]["accuracy"] == pytest.approx(summary["metrics"]["test_accuracy"], abs=1e-6)
    model = keras.saving.load_model(workdir / export["dir"] / "model.keras")
    assert model.name == "nas_cnn" and model.count_params() == summary["metrics"]["params"]


@pytest.mark.parametrize("overrides, message", [
    (["search=reinforce", "population_size=2", "sample_size=3"], "sample_size must be between 1 and population_size"),
    (["search=evolution", "baseline_decay=1.0"], r"baseline_decay must be in \[0, 1\)"),
    (["baselines=lenet5,vgg"], r"Unknown baseline\(s\) \['vgg'\]"),
])
def test_bad_search_settings_are_refused_before_a_run_folder_is_kept(overrides, message, workdir):
    with pytest.raises(KerarchError, match=message):
        run_recipe("nas-fashion", [*overrides, "verbose=none"])
    assert not any((workdir / "runs" / "nas-fashion").iterdir())
