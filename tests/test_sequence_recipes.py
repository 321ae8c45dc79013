"""The sequence recipes (rnn-timeseries, transformer-seq2seq, gpt-char) end to end on tiny data, and their parts."""

import datetime
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

from kerarch.data.text import (
    END,
    PAD,
    START,
    UNK,
    CharVocabulary,
    bigram_bits_per_char,
    load_text_corpus,
    sequence_chunks,
    stdlib_folder,
    unigram_bits_per_char,
)
from kerarch.data.timeseries import (
    fill_gaps,
    forecast_errors,
    load_series,
    make_windows,
    persistence_forecast,
    read_csv_series,
    seasonal_naive_forecast,
    split_starts,
    window_split,
)
from kerarch.errors import KerarchError
from kerarch.frame import run_recipe

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


def write_text_folder(folder):
    """A few small code-like text files (nested), plus a binary file that must be ignored."""
    folder.mkdir(parents=True)
    (folder / "sub").mkdir()
    lines = [f"def f{i}(x):\n    return x * {i} + {i % 7}\n\n" for i in range(120)]
    (folder / "a.py").write_text("".join(lines[:60]))
    (folder / "sub" / "b.txt").write_text("".join(lines[60:]))
    (folder / "notes.md").write_text("# Notes\n\nimport math\n\nclass Point:\n    pass\n")
    (folder / "image.bin").write_bytes(bytes(range(256)))
    return folder


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
    data = {"rnn-timeseries": [f"data_dir={workdir / 'series.csv'}"], "gpt-char": [f"data_dir={workdir / 'text'}"]}
    previous = os.getcwd()
    os.chdir(workdir)
    try:
        yield {
            name: run_recipe(name, [*args, *data.get(name, []), "verbose=none", f"run_dir=runs/{name}"])
            for name, args in TINY.items()
        }
    finally:
        os.chdir(previous)


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


# --- time series ----------------------------------------------------------------------------


def test_windows_and_chronological_splits():
    x, y = make_windows(np.arange(10.0), [3, 5], window=3, horizon=2)
    np.testing.assert_array_equal(x, [[0, 1, 2], [2, 3, 4]])
    np.testing.assert_array_equal(y, [[3, 4], [5, 6]])
    train, val, test = split_starts(20, window=3, horizon=2, test_size=4, validation_size=3)
    np.testing.assert_array_equal(train, np.arange(3, 12))  # targets up to index 12, before validation (13)
    np.testing.assert_array_equal(val, [13, 14])  # targets 13..15
    np.testing.assert_array_equal(test, [16, 17, 18])  # targets 16..19, the last 4 steps
    with pytest.raises(KerarchError, match="The training split gets no window"):
        split_starts(20, window=12, horizon=2, test_size=4, validation_size=3)


@pytest.mark.parametrize("relative", [False, True])
def test_normalisation_uses_training_statistics_only(relative):
    values = np.concatenate([np.tile([1.0, 3.0], 15), [1000.0] * 10])  # the held-out tail is far off
    split = window_split(values, window=4, horizon=1, test_fraction=0.25, validation_fraction=0.1, relative=relative)
    assert split.val_starts[0] == 26  # statistics of values[:26]: thirteen 1s and thirteen 3s
    assert split.mean == 2.0 and split.std == 1.0
    np.testing.assert_allclose(split.test_units(split.y_test), values[split.test_starts][:, None])
    assert split.x_train.shape == (len(split.train_starts), 4, 1) and split.x_train.dtype == np.float32


def test_baselines_on_a_hand_made_series():
    values = np.arange(12.0)
    starts = np.array([8, 10])
    np.testing.assert_array_equal(persistence_forecast(values, starts, 3), [[7, 7, 7], [9, 9, 9]])
    # Steps 0 and 1 look one season (2) back, step 2 two seasons back.
    np.testing.assert_array_equal(seasonal_naive_forecast(values, starts, 3, 2), [[6, 7, 6], [8, 9, 8]])
    cycle = np.tile([1.0, 5.0, 3.0], 6)
    starts = np.arange(9, 18)
    assert forecast_errors(cycle[starts][:, None], seasonal_naive_forecast(cycle, starts, 1, 3))["mae"] == 0.0
    persistence = forecast_errors(cycle[starts][:, None], persistence_forecast(cycle, starts, 1))
    assert persistence["mae"] == pytest.approx(8 / 3) and persistence["rmse"] == pytest.approx(math.sqrt(24 / 3))
    assert forecast_errors([1, 2, 3], [2, 2, 5]) == {"mae": 1.0, "rmse": pytest.approx(math.sqrt(5 / 3))}


def test_series_sources(tmp_path):
    sunspots = load_series("sunspots")
    assert len(sunspots.values) == 309 and sunspots.season == 11 and sunspots.times[0] == 1700
    np.testing.assert_array_equal(fill_gaps([np.nan, 1.0, np.nan, 3.0, np.nan]), [1, 1, 2, 3, 3])
    plain = tmp_path / "plain.csv"
    plain.write_text("1.5\n2\n\n3\n")
    assert read_csv_series(plain).values.tolist() == [1.5, 2.0, 3.0]
    two = tmp_path / "two.csv"
    two.write_text("a,b\n1,2\n3,4\n")
    with pytest.raises(KerarchError, match="2 numeric columns \\('a', 'b'\\); choose one with column="):
        read_csv_series(two)
    assert read_csv_series(two, column="b").values.tolist() == [2.0, 4.0]
    bad = tmp_path / "bad.csv"
    bad.write_text("x\n1\ntwo\n")
    with pytest.raises(KerarchError, match="line 3: 'two' is not a number"):
        read_csv_series(bad, column="x")
    with pytest.raises(KerarchError, match="is a folder"):
        read_csv_series(tmp_path)
    with pytest.raises(KerarchError, match="Unknown time-series dataset 'tides'"):
        load_series("tides")


# --- dates ----------------------------------------------------------------------------------


def test_date_rendering_and_disjoint_splits():
    from recipes.transformer_seq2seq import (
        FIRST_DAY, FORMATS, LAST_DAY, SOURCE_LENGTH, date_pairs, render_date, split_days,
    )

    day = np.datetime64("2026-11-23")
    assert render_date(day, "{Mon} {d}, {yy}", "lower") == "nov 23, 26"
    assert render_date(day, "{Weekday}, {d} {Month} {Y}") == "Monday, 23 November 2026"
    assert render_date(np.datetime64("1950-01-02"), "{dd}.{mm}.{Y}") == "02.01.1950"
    for offset in range(0, 36000, 997):
        some_day = FIRST_DAY + np.timedelta64(offset, "D")
        expected = datetime.date.fromisoformat(str(some_day)).strftime("%A")
        assert render_date(some_day, "{Weekday}") == expected
    longest = render_date(np.datetime64("2026-09-30"), "{Weekday}, {d} {Month} {Y}")
    assert max(len(render_date(np.datetime64("2026-09-30"), f)) for f in FORMATS) == len(longest) <= SOURCE_LENGTH
    rng = np.random.default_rng(0)
    train, test = split_days(rng, (3000, 500))
    assert len(set(train.tolist())) == 3000 and not set(train.tolist()) & set(test.tolist())
    train_pairs, test_pairs = date_pairs(train, rng), date_pairs(test, rng)
    assert not {iso for _, iso in train_pairs} & {iso for _, iso in test_pairs}
    assert all(iso == str(d) for (_, iso), d in zip(test_pairs, test))
    # Two-digit years are unambiguous over the date range: 50-99 are 19xx, 00-49 are 20xx.
    for some_day in (FIRST_DAY, LAST_DAY, np.datetime64("1999-12-31"), np.datetime64("2000-01-01")):
        yy = int(render_date(some_day, "{yy}"))
        assert (1900 + yy if yy >= 50 else 2000 + yy) == int(str(some_day)[:4])


def test_source_blind_baselines():
    from recipes.transformer_seq2seq import char_accuracy, exact_match, source_blind_baselines

    assert exact_match(["a", "b"], ["a", "c"]) == 0.5
    assert char_accuracy(["2026-11-2"], ["2026-11-23"]) == 0.9
    baselines = source_blind_baselines(["2000-01-01", "2000-01-01", "1999-12-31"], ["2000-01-01", "2011-11-11"])
    assert baselines["baseline_most_frequent_output_exact_match"] == 0.5
    # "2000-01-01" matches itself and 6 characters of "2011-11-11" (2, 0, -, 1, -, 1).
    assert baselines["baseline_position_majority_char_accuracy"] == pytest.approx((10 + 6) / 20)


# --- text -----------------------------------------------------------------------------------


def test_char_vocabulary_round_trip():
    vocab = CharVocabulary.from_text("hello wörld")
    assert vocab.tokens[:2] == [PAD, UNK] and vocab.size == 2 + len(set("hello wörld"))
    assert vocab.decode(vocab.encode("world hello")) == "world hello"
    assert vocab.encode("hez").tolist()[-1] == vocab.id(UNK) and vocab.decode(vocab.encode("hez")) == "he"
    targets = CharVocabulary("0123456789-", specials=(PAD, START, END))
    with pytest.raises(KerarchError, match="not in the vocabulary"):
        targets.encode("2026/11")


def test_chunks_and_ngram_baselines():
    np.testing.assert_array_equal(sequence_chunks(np.arange(10), 3), [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]])
    vocab = CharVocabulary.from_text("ab")  # [PAD]=0, [UNK]=1, a=2, b=3
    train = vocab.encode("abab")
    # Add-one counts: p(b) = 3/8; p(b | a) = (2 + 1) / (2 + 4); p(a | b) = (1 + 1) / (1 + 4).
    assert unigram_bits_per_char(train, vocab.encode("b"), vocab.size) == pytest.approx(-math.log2(3 / 8))
    bits = bigram_bits_per_char(train, vocab.encode("ab"), vocab.encode("ba"), vocab.size)
    assert bits == pytest.approx(-(math.log2(1 / 2) + math.log2(2 / 5)) / 2)


def test_text_corpus_sources(tmp_path):
    folder = write_text_folder(tmp_path / "text")
    corpus = load_text_corpus(folder, max_chars=10**6)
    assert [Path(f).name for f in corpus.files] == ["a.py", "notes.md", "b.txt"]  # sorted paths, .bin ignored
    assert load_text_corpus(folder, max_chars=50).text == corpus.text[:50]
    stdlib = load_text_corpus(max_chars=1000)
    assert len(stdlib.text) == 1000 and stdlib.files[0] == str(sorted(stdlib_folder().glob("*.py"))[0])
    assert stdlib.text == load_text_corpus(max_chars=1000).text
    with pytest.raises(KerarchError, match="does not exist"):
        load_text_corpus(tmp_path / "nothing", max_chars=10)
