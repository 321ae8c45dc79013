"""The sequence recipes (rnn-timeseries, transformer-seq2seq, gpt-char) end to end on tiny data, and the kinds' metrics.

Their data preparation is tested in test_data_sequence.py.
"""

import json
import math
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from test_data_sequence import write_text_folder
from tiny_data import tiny_recipe_runs

from kerarch.errors import KerarchError
from kerarch.frame import run_recipe
from kerarch.frame.sequence_to_sequence import char_accuracy, exact_match, source_blind_baselines

TINY = {
    "rnn-timeseries": ["cell=gru", "epochs=3", "window=8", "units=8", "batch_size=16", "season=12", "patience=2"],
    "transformer-seq2seq": [
        "epochs=1", "train_examples=256", "validation_examples=32", "test_examples=32", "num_layers=1",
        "hidden_dim=16", "num_heads=2", "intermediate_dim=32", "batch_size=32", "num_beams=2", "examples=3",
    ],
    "gpt-char": [
        "epochs=1", "steps_per_epoch=4", "block_size=32", "num_layers=1", "hidden_dim=16", "num_heads=2",
        "intermediate_dim=32", "sample_length=16", "batch_size=8", "top_k=5", "strategy=mirrored", "devices=2",
    ],
}
# The gpt-char run under JAX: the same tiny model on one device, no export (SavedModel export needs TensorFlow).
JAX_GPT = [arg for arg in TINY["gpt-char"] if not arg.startswith(("strategy=", "devices="))] + ["export=false"]


def write_series_csv(path):
    """A noisy 12-step cycle on a trend, 120 rows, with a header, a date column and one empty cell."""
    steps = np.arange(120)
    values = 10 + 0.05 * steps + 3 * np.sin(2 * np.pi * steps / 12) + np.random.default_rng(0).normal(0, 0.3, 120)
    rows = [f"2000-{i:04d},{v:.3f}" for i, v in enumerate(values)]
    rows[50] = "2000-0050,"
    path.write_text("date,level\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A working folder holding the tiny data; runs/ and saved_models/ land in it."""
    root = tmp_path_factory.mktemp("sequence_recipes")
    write_series_csv(root / "series.csv")
    write_text_folder(root / "text")
    return root


@pytest.fixture(scope="module")
def jax_run(workdir):
    """Starts the tiny gpt-char run under KERAS_BACKEND=jax at once, so it overlaps the TensorFlow runs."""
    script = (
        "import json, sys\n"
        "import keras\n"
        "assert keras.backend.backend() == 'jax'\n"
        "from kerarch.frame import run_recipe\n"
        "summary = run_recipe('gpt-char', sys.argv[1:])\n"
        "print('SUMMARY ' + json.dumps(summary))\n"
    )
    env = dict(
        os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2",
        XLA_FLAGS="--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true",
    )
    args = [*JAX_GPT, f"data_dir={workdir / 'text'}", "verbose=none", "run_dir=runs/gpt-char-jax"]
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen([sys.executable, "-c", script, *args], cwd=workdir, env=env, stdout=log,
                                   stderr=log, text=True)
        yield process, log
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def finished(workdir, jax_run):
    """Runs each tiny recipe once; yields {name: summary}."""
    data_dirs = {"rnn-timeseries": workdir / "series.csv", "gpt-char": workdir / "text"}
    tiny = {name: [*args, f"run_dir=runs/{name}"] for name, args in TINY.items()}
    with tiny_recipe_runs(workdir, tiny, data_dirs=data_dirs) as summaries:
        yield summaries


def _assert_run_folder(workdir, summary, pictures):
    run_dir = workdir / summary["run_dir"]
    for artifact in ("config.json", "metrics.csv", "summary.json", "report.md", "log.txt", *pictures):
        assert (run_dir / artifact).exists(), artifact
    report = (run_dir / "report.md").read_text()
    for picture in pictures:
        assert f"]({picture})" in report
        assert Image.open(run_dir / picture).size[0] > 100
    export = summary["export"]
    assert {"model.keras", "saved_model", "model.tflite"} <= {p.name for p in (workdir / export["dir"]).iterdir()}
    for entry in export["artifacts"].values():
        assert entry["max_abs_diff"] <= entry["tolerance"]
    return report


def _finite(metrics, *keys):
    for key in keys:
        assert isinstance(metrics[key], float) and math.isfinite(metrics[key]), key


# --- end to end ----------------------------------------------------------------------------


def test_rnn_timeseries_reports_model_and_baselines(workdir, finished):
    summary = finished["rnn-timeseries"]
    report = _assert_run_folder(workdir, summary, ["curves.png", "forecast.png"])
    metrics = summary["metrics"]
    _finite(metrics, "test_mae", "test_rmse", "persistence_mae", "persistence_rmse", "seasonal_naive_mae",
            "seasonal_naive_rmse", "mae_vs_best_baseline")
    assert metrics["dataset"] == "series" and metrics["season"] == 12
    assert "| persistence_mae |" in report and "| seasonal_naive_mae |" in report
    config = json.loads((workdir / summary["run_dir"] / "config.json").read_text())
    assert config["data_source"].startswith(f"data_dir {workdir / 'series.csv'} (column 'level', 120 values)")
    assert "1 empty values were filled" in report  # the notice of the gap in the CSV
    # The export's input is one window of the normalised series.
    assert summary["export"]["input_shape"] == [None, 8, 1] and summary["export"]["task"] == "regression"


def test_transformer_seq2seq_reports_exact_match_and_examples(workdir, finished):
    summary = finished["transformer-seq2seq"]
    _assert_run_folder(workdir, summary, ["curves.png"])
    metrics = summary["metrics"]
    _finite(metrics, "test_exact_match_greedy", "test_exact_match_beam2", "test_char_accuracy_greedy",
            "test_token_accuracy_teacher_forced", "baseline_most_frequent_output_exact_match",
            "baseline_position_majority_char_accuracy")
    assert all(0.0 <= metrics[k] <= 1.0 for k in metrics if k.startswith(("test_", "baseline_")))
    # Held-out dates are never training dates, so a source-blind answer gets no date right.
    assert metrics["baseline_most_frequent_output_exact_match"] == 0.0
    assert [k for k in metrics if k.startswith("example_")] == ["example_1", "example_2", "example_3"]
    assert " → " in metrics["example_1"]
    # One float input: 32 source ids and 11 decoder ids side by side; logits over 14 target ids.
    assert summary["export"]["input_shape"] == [None, 43] and summary["export"]["output_shape"] == [None, 11, 14]


def test_gpt_char_reports_bits_per_char_baselines_and_samples(workdir, finished):
    summary = finished["gpt-char"]
    report = _assert_run_folder(workdir, summary, ["curves.png"])
    metrics = summary["metrics"]
    _finite(metrics, "val_loss_nats", "val_perplexity", "val_bits_per_char", "baseline_unigram_bits_per_char",
            "baseline_bigram_bits_per_char")
    assert metrics["val_bits_per_char"] == pytest.approx(metrics["val_loss_nats"] / math.log(2))
    assert metrics["baseline_bigram_bits_per_char"] < metrics["baseline_unigram_bits_per_char"]
    header, body = (workdir / summary["run_dir"] / "samples.txt").read_text().split("\n\n", 1)
    assert header == "# gpt-char samples, temperature=0.8 top_k=5 top_p=0.95 seed=42"
    samples, prompts = body.split("\n\n----------\n\n"), ["def", "class", "import"]
    assert [text[: len(prompt)] for text, prompt in zip(samples, prompts)] == prompts
    assert all(len(text) > len(prompt) for text, prompt in zip(samples, prompts))
    assert "| sample_1 | def" in report
    config = json.loads((workdir / summary["run_dir"] / "config.json").read_text())
    assert config["strategy"]["replicas"] == 2
    assert ": 3 file(s), " in config["data_source"]  # image.bin is not text


def test_gpt_char_runs_under_jax(jax_run):
    process, log = jax_run
    returncode = process.wait(timeout=600)
    log.seek(0)
    output = log.read()
    assert returncode == 0, output[-4000:]
    summary = json.loads(next(line for line in output.splitlines() if line.startswith("SUMMARY "))[8:])
    assert math.isfinite(summary["metrics"]["val_bits_per_char"]) and "export" not in summary
    assert (Path(summary["artifacts"]["report"]).parent.name) == "gpt-char-jax"


@pytest.mark.parametrize(
    "name, overrides, message",
    [
        ("rnn-timeseries", ["data_dir={tmp}/missing.csv"], "does not exist; expected a CSV file"),
        ("rnn-timeseries", ["data_dir={csv}", "column=volume"], "has no column 'volume'; its columns are: date, level"),
        ("rnn-timeseries", ["column=level"], "give the file with data_dir="),
        ("rnn-timeseries", ["data_dir={csv}", "window=200"], "The training split gets no window"),
        ("gpt-char", ["data_dir={tmp}/missing"], "does not exist; give a UTF-8 text file or a folder"),
        ("gpt-char", ["data_dir={empty}"], "holds no text files"),
        ("gpt-char", ["sample_length=200", "block_size=64"], "within block_size (64)"),
    ],
)
def test_bad_input_is_a_kerarch_error(name, overrides, message, workdir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "data.bin").write_bytes(b"\0")
    fill = dict(tmp=tmp_path, csv=workdir / "series.csv", empty=tmp_path / "empty")
    with pytest.raises(KerarchError, match=re.escape(message)):
        run_recipe(name, [o.format(**fill) for o in overrides] + ["verbose=none", "export=false"])


# --- metrics ------------------------------------------------------------------------------


def test_source_blind_baselines():
    assert exact_match(["a", "b"], ["a", "c"]) == 0.5
    assert char_accuracy(["2026-11-2"], ["2026-11-23"]) == 0.9
    baselines = source_blind_baselines(["2000-01-01", "2000-01-01", "1999-12-31"], ["2000-01-01", "2011-11-11"])
    assert baselines["baseline_most_frequent_output_exact_match"] == 0.5
    # "2000-01-01" matches itself and 6 characters of "2011-11-11" (2, 0, -, 1, -, 1).
    assert baselines["baseline_position_majority_char_accuracy"] == pytest.approx((10 + 6) / 20)
