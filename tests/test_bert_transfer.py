"""BERT transfer: a bert-pretrain-mlm run on IMDB's training reviews is the start of bert-finetune-imdb.

One tiny pretraining run on a tiny IMDB fixture (aclImdb layout with
train/unsup) is shared by the tests: the corpus never holds a test review,
the run records its vocabulary and encoder, a classifier built from it has
the pretrained encoder's outputs and vocabulary, and each mismatch stops a
fine-tuning run before it makes a run folder (CLI exit 2). The CLI run of
bert-finetune-imdb from a pretraining run is in test_text_recipes.py.
"""

import json
import random
import shutil
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerarch import cli
from kerarch.config import parse_overrides
from kerarch.data.corpus import encode_pairs
from kerarch.data.textclass import load_imdb_corpus, read_vocabulary, word_piece_tokenizer
from kerarch.frame import get_recipe, run_recipe
from kerarch.plots import read_metrics_csv
from test_text_recipes import FILLER, NEGATIVE, POSITIVE

TEST_ONLY, UNLABELLED_ONLY = "zqxtestonly", "unsupword"
PRETRAIN = ["dataset=imdb_reviews", "epochs=1", "batch_size=16", "vocabulary_size=200", "sequence_length=32",
            "max_predictions=5", "segments=spans", "jit_compile=false", "verbose=none", "run_dir=runs/pretrained"]


def write_imdb(folder, *, train=40, test=12, unsup=10):
    """aclImdb's layout with reviews of 4 sentences; test reviews carry TEST_ONLY, unlabelled ones UNLABELLED_ONLY."""
    rng = random.Random(5)

    def review(keywords, marker=""):
        words = lambda: [rng.choice(FILLER) for _ in range(6)] + [rng.choice(keywords), marker]  # noqa: E731
        return " ".join(" ".join(w for w in words() if w).capitalize() + "." for _ in range(4))

    folders = [("train/pos", POSITIVE, "", train), ("train/neg", NEGATIVE, "", train),
               ("test/pos", POSITIVE, TEST_ONLY, test), ("test/neg", NEGATIVE, TEST_ONLY, test),
               ("train/unsup", POSITIVE + NEGATIVE, UNLABELLED_ONLY, unsup)]
    for name, keywords, marker, count in folders:
        (folder / name).mkdir(parents=True)
        for i in range(count):
            (folder / name / f"{i}_0.txt").write_text(review(keywords, marker))
    return folder


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """(workdir, IMDB folder, pretraining run folder) after a tiny bert-pretrain-mlm run on IMDB."""
    workdir = tmp_path_factory.mktemp("bert_transfer")
    imdb = write_imdb(workdir / "aclImdb")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        summary = run_recipe("bert-pretrain-mlm", [f"data_dir={imdb}", *PRETRAIN])
    return workdir, imdb, workdir / summary["run_dir"]


def test_imdb_corpus_holds_training_and_unlabelled_reviews_never_test_ones(tmp_path):
    imdb = write_imdb(tmp_path / "aclImdb")
    corpus = load_imdb_corpus(imdb, max_documents=10_000, max_chars=10**8, seed=0)
    text = " ".join(s for doc in corpus.documents for s in doc).lower()
    assert len(corpus.documents) == 2 * 40 + 10 and TEST_ONLY not in text and UNLABELLED_ONLY in text
    assert "test reviews excluded" in corpus.source


def test_span_pairs_fill_the_sequence_that_sentence_pairs_leave_half_empty(tmp_path):
    documents = load_imdb_corpus(write_imdb(tmp_path / "aclImdb"), max_documents=10_000, max_chars=10**8,
                                 seed=0).documents
    tokenizer = word_piece_tokenizer([s for doc in documents for s in doc], vocabulary_size=200)
    pairs = {segments: encode_pairs(tokenizer, documents, 0, sequence_length=48, segments=segments)
             for segments in ("sentences", "spans")}
    filled = {segments: float(np.mean(p["token_ids"] > 0)) for segments, p in pairs.items()}
    assert filled["spans"] > filled["sentences"] + 0.2, filled
    assert len(pairs["spans"]["nsp_labels"]) < len(pairs["sentences"]["nsp_labels"])
    # Both segments are there: segment 1 follows the first [SEP].
    assert (pairs["spans"]["segment_ids"].max(axis=1) == 1).all()


def test_pretraining_on_imdb_records_its_vocabulary_and_encoder(pretrained):
    run_dir = pretrained[2]
    vocabulary = read_vocabulary(run_dir / "vocabulary.txt")
    assert vocabulary[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] and len(set(vocabulary)) == len(vocabulary)
    assert TEST_ONLY not in vocabulary and UNLABELLED_ONLY in vocabulary  # the marker is in 48 test reviews
    config = json.loads((run_dir / "config.json").read_text())
    assert "IMDB training reviews" in config["data_source"] and "test reviews excluded" in config["data_source"]
    encoder = keras.saving.load_model(run_dir / "encoder.keras")
    assert set(encoder.output) == {"sequence_output", "pooled_output"}
    assert encoder.get_layer("token_embedding").input_dim == len(vocabulary)


def _epoch_losses(run_dir):
    """(loss, mlm_logits_loss, nsp_logits_loss) arrays, one value per epoch, from a run's metrics.csv."""
    columns = read_metrics_csv(run_dir / "metrics.csv")
    return tuple(np.asarray(columns[key]) for key in ("loss", "mlm_logits_loss", "nsp_logits_loss"))


def test_next_sentence_false_trains_the_masked_lm_alone(pretrained, monkeypatch):
    workdir, imdb, run_dir = pretrained
    monkeypatch.chdir(workdir)
    summary = run_recipe("bert-pretrain-mlm", [f"data_dir={imdb}", *PRETRAIN, "next_sentence=false",
                                               "run_dir=runs/mlm-only"])
    loss, mlm, nsp = _epoch_losses(workdir / summary["run_dir"])
    # The NSP loss is reported, but not in the total. (Keras averages the total and the per-output losses over
    # an epoch with other weights, so they agree to a few hundredths, far closer than the NSP loss itself.)
    assert (nsp > 0.3).all() and (abs(loss - mlm) < 0.1 * nsp).all(), (loss, mlm, nsp)
    loss, mlm, nsp = _epoch_losses(run_dir)  # the default: both losses, summed
    assert (nsp > 0.3).all() and (abs(loss - mlm - nsp) < 0.1 * nsp).all(), (loss, mlm, nsp)
    config = json.loads((workdir / summary["run_dir"] / "config.json").read_text())
    assert config["config"]["next_sentence"] is False


def _built_classifier(workdir, imdb, pretrained_path, tmp_path):
    """The bert-finetune-imdb recipe's data and untrained model, as its run builds them (no run folder)."""
    recipe_cls = get_recipe("bert-finetune-imdb")
    config = parse_overrides(recipe_cls.Config, [f"data_dir={imdb}", f"pretrained={pretrained_path}",
                                                 "sequence_length=24", "validation_examples=10"])
    recipe = recipe_cls(config, types.SimpleNamespace(path=tmp_path), tf.distribute.get_strategy())
    data = recipe.load_data()
    return data, recipe.build_model(data)


@pytest.mark.parametrize("which", ["run folder", "checkpoint in it"])
def test_the_classifier_starts_from_the_pretrained_encoder_and_vocabulary(which, pretrained, tmp_path):
    workdir, imdb, run_dir = pretrained
    path = run_dir if which == "run folder" else run_dir / "checkpoints" / "best.keras"
    data, classifier = _built_classifier(workdir, imdb, path, tmp_path)
    vocabulary = read_vocabulary(run_dir / "vocabulary.txt")
    assert data.tokenizer.get_vocabulary() == vocabulary  # same tokens, same ids
    assert read_vocabulary(tmp_path / "vocabulary.txt") == vocabulary  # recorded in the fine-tuning run
    ids = data.x_train[:4]
    inputs = {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": (ids != 0).astype("int32")}
    source = keras.saving.load_model(run_dir / "encoder.keras" if path == run_dir else path)
    last = "transformer_layer_1"
    view = lambda model: keras.Model(model.inputs, [model.get_layer(name).output  # noqa: E731
                                                    for name in ("pooled_dense", last)])
    for got, expected in zip(view(classifier).predict(inputs, verbose=0), view(source).predict(
            {**inputs, "mask_positions": np.zeros((4, 1), "int32")} if len(source.inputs) == 4 else inputs,
            verbose=0)):
        assert np.max(np.abs(got - expected)) < 1e-6
    assert not np.allclose(classifier.get_layer("token_embedding").get_weights()[0], 0)


def _copy(run_dir, target, drop=None):
    shutil.copytree(run_dir, target)
    if drop:
        (target / drop).unlink()
    return target


@pytest.mark.parametrize("case, message", [
    ("unfinished", "is unfinished (no summary.json)"),
    ("other recipe", "is a run of 'lstm-sentiment', not of BERT pretraining (bert-pretrain-mlm)"),
    ("no vocabulary", "has no vocabulary.txt"),
    ("vocabulary size", "vocabulary.txt holds 20 tokens, but encoder.keras embeds"),
    ("too long", "sequence_length=64 is longer than the 32 positions"),
    ("missing", "no such run folder or model file"),
])
def test_a_mismatched_pretraining_run_exits_2_without_a_run_folder(case, message, pretrained, tmp_path,
                                                                   monkeypatch, capsys):
    workdir, imdb, run_dir = pretrained
    monkeypatch.chdir(tmp_path)
    target, length = tmp_path / "pretrained", 16
    if case == "unfinished":
        _copy(run_dir, target, drop="summary.json")
    elif case == "other recipe":
        target.mkdir()
        (target / "config.json").write_text(json.dumps({"recipe": "lstm-sentiment", "config": {}}))
        (target / "summary.json").write_text("{}")
    elif case == "no vocabulary":
        _copy(run_dir, target, drop="vocabulary.txt")
    elif case == "vocabulary size":
        _copy(run_dir, target)
        tokens = read_vocabulary(run_dir / "vocabulary.txt")[:20]
        (target / "vocabulary.txt").write_text("".join(f"{token}\n" for token in tokens))
    elif case == "too long":
        target, length = run_dir, 64
    argv = ["run", "bert-finetune-imdb", f"data_dir={imdb}", f"pretrained={target}", f"sequence_length={length}",
            "validation_examples=10", "verbose=none"]
    assert cli.main(argv) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not list((tmp_path / "runs").glob("bert-finetune-imdb/*"))


def test_a_bert_model_as_pretrained_fixes_the_architecture():
    """The builder side: `pretrained=` a BERT keras.Model gives its sizes; a clash or a non-BERT model is an error."""
    from kerarch.errors import KerarchError
    from kerarch.sequence.bert import bert, bert_classifier, bert_model_architecture

    sizes = dict(vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16,
                 max_sequence_length=12, num_segments=2)
    encoder = bert(**sizes)
    assert bert_model_architecture(encoder) == sizes
    assert bert_model_architecture(bert_classifier(pretrained=encoder, num_classes=3)) == sizes
    with pytest.raises(KerarchError, match=r"pretrained model fixes the architecture.*hidden_dim=16 \(pretrained "
                                           r"model: 8\)"):
        bert_classifier(pretrained=encoder, hidden_dim=16)
    with pytest.raises(KerarchError, match="is not a BERT encoder: it has no layer token_embedding"):
        bert_model_architecture(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))
