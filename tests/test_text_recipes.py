"""The text recipes (lstm-sentiment, gru-textclass, bert-finetune-sst2/-imdb, bert-pretrain-mlm), end to end.

Each recipe runs once end to end on tiny learnable fixtures written here
(bert-finetune-imdb from the bert-pretrain-mlm run before it); running
offline without data is tested on its own. The data functions are tested
in test_data_text.py, the BERT transfer's checks in test_bert_transfer.py.
"""

import json
import random

import numpy as np
import pytest

from kerarch.config import parse_overrides
from kerarch.data.textclass import load_text_classification
from kerarch.errors import KerarchError
from kerarch.frame import get_recipe, run_recipe
from tiny_data import tiny_recipe_runs

# jit_compile=false: XLA compilation would cost more than these few steps.
TINY = {
    # A constant rate: the default cosine decay leaves too little learning in 2 tiny epochs.
    "lstm-sentiment": ["epochs=2", "batch_size=16", "vocabulary_size=200", "sequence_length=16", "embedding_dim=8",
                       "units=8", "validation_examples=20", "jit_compile=false", "schedule=constant"],
    "gru-textclass": ["epochs=2", "batch_size=16", "vocabulary_size=200", "sequence_length=12", "embedding_dim=8",
                      "units=8", "validation_examples=20", "jit_compile=false"],
    "bert-finetune-sst2": ["epochs=2", "batch_size=16", "vocabulary_size=200", "sequence_length=16",
                           "validation_examples=20", "jit_compile=false"],
    "bert-pretrain-mlm": ["epochs=2", "batch_size=16", "vocabulary_size=200", "sequence_length=32",
                          "max_predictions=5", "jit_compile=false", "run_dir=runs/bert-pretrain-mlm/tiny"],
    # Fine-tunes the encoder of the pretraining run above (32 positions), with its vocabulary.
    "bert-finetune-imdb": ["epochs=1", "batch_size=16", "sequence_length=16", "validation_examples=20",
                           "jit_compile=false", "pretrained=runs/bert-pretrain-mlm/tiny"],
}

POSITIVE = ("great", "wonderful", "loved", "excellent", "brilliant", "moving")
NEGATIVE = ("awful", "boring", "hated", "terrible", "dull", "clumsy")
FILLER = ("the", "film", "plot", "actors", "story", "was", "and", "a", "really", "scene", "music", "ending")
TOPICS = {
    "sports": ("match", "goal", "team", "coach", "season", "league"),
    "science": ("cell", "atom", "theory", "experiment", "physics", "molecule"),
    "music": ("guitar", "album", "song", "concert", "melody", "band"),
}


def _sentence(rng, keywords, length=8):
    words = [rng.choice(FILLER) for _ in range(length)] + [rng.choice(keywords), rng.choice(keywords)]
    rng.shuffle(words)
    return " ".join(words)


def write_acl_imdb(folder, *, train=60, test=20):
    """The aclImdb layout: {train,test}/{pos,neg}/<id>_<rating>.txt, sentiment carried by a few words."""
    rng = random.Random(0)
    for split, count in (("train", train), ("test", test)):
        for polarity, words in (("pos", POSITIVE), ("neg", NEGATIVE)):
            path = folder / split / polarity
            path.mkdir(parents=True)
            for i in range(count):
                (path / f"{i}_7.txt").write_text(_sentence(rng, words) + ".<br /><br />" + _sentence(rng, words))
    return folder


def write_topic_tsv(folder, *, train=150, test=45):
    """train.tsv and test.tsv with class names as labels (the gru-textclass TSV option)."""
    rng = random.Random(1)
    folder.mkdir(parents=True)
    for name, count in (("train.tsv", train), ("test.tsv", test)):
        rows = [(_sentence(rng, words), topic) for _ in range(count // 3) for topic, words in TOPICS.items()]
        (folder / name).write_text("sentence\tlabel\n" + "".join(f"{s}\t{t}\n" for s, t in rows))
    return folder


def write_sst2(folder, *, train=140, dev=40):
    """GLUE SST-2's layout: train.tsv and dev.tsv (sentence, label 0/1), test.tsv without labels."""
    rng = random.Random(2)
    folder.mkdir(parents=True)
    for name, count in (("train.tsv", train), ("dev.tsv", dev)):
        classes = enumerate((NEGATIVE, POSITIVE))
        rows = [(_sentence(rng, words), label) for label, words in classes for _ in range(count // 2)]
        (folder / name).write_text("sentence\tlabel\n" + "".join(f'{s} "quoted\t{y}\n' for s, y in rows))
    (folder / "test.tsv").write_text("index\tsentence\n0\tno labels here\n")
    return folder


def write_corpus(folder, *, documents=40):
    """Paragraphs of several sentences in .txt and .md files, and a .py file with docstrings."""
    rng = random.Random(3)
    folder.mkdir(parents=True)
    words = [w for topic in TOPICS.values() for w in topic] + list(FILLER)

    def paragraph():
        return " ".join(" ".join(rng.choice(words) for _ in range(6)).capitalize() + "." for _ in range(4))

    half = documents // 2
    (folder / "a.txt").write_text("\n\n".join(paragraph() for _ in range(half)))
    (folder / "b.md").write_text("\n\n".join(paragraph() for _ in range(half - 4)))
    docstrings = "".join(f'def f{i}():\n    """{paragraph()}"""\n\n' for i in range(4))
    (folder / "c.py").write_text(f'"""{paragraph()}"""\n\n' + docstrings)
    (folder / "ignored.bin").write_bytes(b"\x00\x01")
    return folder


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """Runs each recipe once on its tiny fixture; yields (workdir, {name: summary})."""
    workdir = tmp_path_factory.mktemp("text_recipes")
    data_dirs = {
        "lstm-sentiment": write_acl_imdb(workdir / "data" / "aclImdb"),
        "gru-textclass": write_topic_tsv(workdir / "data" / "topics"),
        "bert-finetune-sst2": write_sst2(workdir / "data" / "SST-2"),
        "bert-pretrain-mlm": write_corpus(workdir / "data" / "corpus"),
        "bert-finetune-imdb": workdir / "data" / "aclImdb",
    }
    with tiny_recipe_runs(workdir, TINY, data_dirs=data_dirs) as summaries:
        yield workdir, summaries


@pytest.mark.parametrize("name", sorted(TINY))
def test_recipe_end_to_end(name, finished):
    workdir, summaries = finished
    summary = summaries[name]
    run_dir = workdir / summary["run_dir"]
    for artifact in ("config.json", "metrics.csv", "summary.json", "report.md", "checkpoints/best.keras"):
        assert (run_dir / artifact).exists(), artifact
    assert json.loads((run_dir / "config.json").read_text())["data_source"].startswith("data_dir")
    numbers = {k: v for k, v in summary["metrics"].items() if isinstance(v, float)}
    assert numbers and all(np.isfinite(v) for v in numbers.values())
    assert any(key.startswith("baseline_") for key in summary["metrics"])
    assert "| metric | value |" in (run_dir / "report.md").read_text()


@pytest.mark.parametrize("name", ["lstm-sentiment", "gru-textclass", "bert-finetune-sst2", "bert-finetune-imdb"])
def test_classifiers_learn_and_export_verified(name, finished):
    workdir, summaries = finished
    summary = summaries[name]
    metrics = summary["metrics"]
    split = "dev" if name == "bert-finetune-sst2" else "test"
    assert metrics[f"baseline_majority_class_{split}_accuracy"] == pytest.approx(1 / metrics["classes"], abs=0.05)
    export = summary["export"]
    assert {"model.keras", "saved_model", "model.tflite"} <= {p.name for p in (workdir / export["dir"]).iterdir()}
    for artifact in ("keras", "saved_model", "tflite"):
        assert export["artifacts"][artifact]["max_abs_diff"] < 1e-4
    assert export["artifacts"]["tflite"]["input"]["dtype"] == "float32"  # token ids, cast inside
    assert abs(export["artifacts"]["tflite"]["accuracy"] - export["accuracy"]["keras"]) < 1e-6
    assert export["artifacts"]["saved_model"]["serve_text"]["max_abs_diff"] < 1e-4  # raw test texts


@pytest.mark.parametrize("name", ["bert-finetune-sst2", "bert-finetune-imdb"])
def test_bert_saved_model_takes_raw_reviews_cut_as_in_training(name, finished):
    """serve_text tokenizes with the run's vocabulary.txt and cuts a long review as `keep` says, inside the graph."""
    import keras
    import tensorflow as tf

    from kerarch.data.textclass import encode_packed, read_vocabulary, word_piece_from_vocabulary

    workdir, summaries = finished
    summary = summaries[name]
    run_dir, export_dir = workdir / summary["run_dir"], workdir / summary["export"]["dir"]
    config = json.loads((run_dir / "config.json").read_text())["config"]
    tokenizer = word_piece_from_vocabulary(read_vocabulary(run_dir / "vocabulary.txt"))
    rng = random.Random(5)
    reviews = [" ".join([_sentence(rng, NEGATIVE)] * 3 + [_sentence(rng, POSITIVE)]), "", "loved it", "dull"]
    ids = encode_packed(tokenizer, reviews, sequence_length=config["sequence_length"], keep=config["keep"])[0]
    if config["keep"] == "head_tail":  # the long review is really cut from both ends
        start = encode_packed(tokenizer, reviews, sequence_length=config["sequence_length"], keep="start")[0]
        assert (ids[0] != start[0]).any() and (ids[1:] == start[1:]).all()
    expected = keras.saving.load_model(export_dir / "model.keras").predict(ids.astype("float32"), verbose=0)
    loaded = tf.saved_model.load(str(export_dir / "saved_model"))  # kept: the signature alone loses the variables
    np.testing.assert_allclose(np.asarray(loaded.serve_text(tf.constant(reviews))), expected, atol=1e-5)


def test_recurrent_classifiers_beat_the_majority_class(finished):
    summaries = finished[1]
    for name in ("lstm-sentiment", "gru-textclass"):
        metrics = summaries[name]["metrics"]
        assert metrics["test_accuracy"] > metrics["baseline_majority_class_test_accuracy"] + 0.15, name


def test_text_classifiers_report_the_tfidf_baseline(finished):
    metrics = finished[1]["gru-textclass"]["metrics"]
    assert metrics["classes"] == 3 and metrics["dataset"] == "tsv"
    assert metrics["baseline_tfidf_logreg_test_accuracy"] > 0.9  # keywords make it easy for bag of words
    assert 0.5 <= finished[1]["lstm-sentiment"]["metrics"]["baseline_tfidf_logreg_test_accuracy"] <= 1.0


def test_text_classifiers_evaluate_their_best_checkpoint(finished):
    """keep_best: the evaluated and exported weights are those of checkpoints/best.keras."""
    import keras

    workdir, summaries = finished
    run_dir = workdir / summaries["lstm-sentiment"]["run_dir"]
    best = keras.saving.load_model(run_dir / "checkpoints" / "best.keras")
    exported = keras.saving.load_model(summaries["lstm-sentiment"]["export"]["dir"] + "/model.keras")
    ids = np.arange(1, 1 + 2 * best.input_shape[1]).reshape(2, -1) % 50 + 1
    np.testing.assert_allclose(exported.predict(ids.astype("float32"), verbose=0), best.predict(ids, verbose=0),
                               atol=1e-5)


def test_bert_finetune_says_it_trained_from_scratch(finished):
    workdir, summaries = finished
    summary = summaries["bert-finetune-sst2"]
    report = (workdir / summary["run_dir"] / "report.md").read_text()
    assert "> **Note:** The keras-hub preset 'bert_tiny_en_uncased' could not be loaded" in report
    assert "KERARCH_OFFLINE=1" in report and "trained from scratch" in report
    assert summary["metrics"]["dev_examples"] == 40  # dev.tsv, not the unlabelled test.tsv


def test_bert_finetune_starts_from_a_pretraining_run(finished):
    """pretrained=<bert-pretrain-mlm run>: its vocabulary, recorded in both run folders, and no from-scratch notice."""
    workdir, summaries = finished
    pretraining, finetuning = (workdir / summaries[name]["run_dir"]
                               for name in ("bert-pretrain-mlm", "bert-finetune-imdb"))
    assert (finetuning / "vocabulary.txt").read_text() == (pretraining / "vocabulary.txt").read_text()
    assert (pretraining / "encoder.keras").is_file()
    metrics = summaries["bert-finetune-imdb"]["metrics"]
    assert metrics["encoder_start"].startswith("pretrained: the bert-pretrain-mlm run")
    assert "runs/bert-pretrain-mlm/tiny" in metrics["encoder_start"]
    assert metrics["vocabulary_size"] == summaries["bert-pretrain-mlm"]["metrics"]["vocabulary_size"]
    assert "**Note:**" not in (finetuning / "report.md").read_text()


def test_bert_pretraining_reports_mlm_and_nsp_against_baselines(finished):
    summary = finished[1]["bert-pretrain-mlm"]
    metrics = summary["metrics"]
    assert "export" not in summary
    assert metrics["test_masked_tokens"] > 0 and metrics["test_pairs"] > 0
    for key in ("test_mlm_accuracy", "baseline_most_frequent_token_mlm_accuracy", "test_nsp_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0
    assert 0.5 <= metrics["baseline_majority_nsp_accuracy"] <= 1.0
    assert set(summary["optimizer_iterations"]) == {"optimizer"}


def test_bert_pretraining_refuses_export():
    config_cls = get_recipe("bert-pretrain-mlm").Config
    with pytest.raises(KerarchError, match="not one of: false"):
        parse_overrides(config_cls, ["export=true"])
    assert "four inputs and two outputs" in config_cls.__dataclass_fields__["export"].metadata["help"]


# --- no data ----------------------------------------------------------------------------------


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No installed copy (`make data`), no TFDS folder and no downloads."""
    monkeypatch.setenv("KERARCH_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "no_keras"))
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "no_tfds"))


def test_offline_without_a_copy_says_how_to_get_one(offline, workdir):
    with pytest.raises(KerarchError, match="aclImdb_v1.tar.gz") as error:
        run_recipe("lstm-sentiment", ["verbose=none"])
    assert "KERARCH_OFFLINE=1" in str(error.value) and "data_dir=" in str(error.value)
    with pytest.raises(KerarchError, match="SST-2.zip") as error:
        load_text_classification("sst2")
    assert "data_dir=<path>/SST-2" in str(error.value) and "glue/sst2" in str(error.value)
