"""The text recipes (lstm-sentiment, gru-textclass, bert-finetune-sst2, bert-pretrain-mlm) and their data.

Each recipe runs once end to end on tiny learnable fixtures written here;
bad input and the pure data functions are tested on their own.
"""

import json
import random
import subprocess

import numpy as np
import pytest

from kerarch.config import parse_overrides
from kerarch.data import textclass
from kerarch.data.textclass import (
    description_text,
    debian_examples,
    encode,
    encode_packed,
    load_corpus,
    load_debian_packages,
    load_text_classification,
    load_tsv_folder,
    parse_deb822,
    python_docstrings,
    read_tsv,
    sentence_pairs,
    split_sentences,
    strip_area,
    with_validation,
    word_piece_tokenizer,
)
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
                          "max_predictions=5", "jit_compile=false"],
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


@pytest.mark.parametrize("name", ["lstm-sentiment", "gru-textclass", "bert-finetune-sst2"])
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


@pytest.mark.parametrize("keep", ["start", "end"])
def test_encode_keeps_the_start_or_the_end_of_long_texts(keep):
    from kerarch.data.textclass import encode, word_piece_tokenizer

    tokenizer = word_piece_tokenizer(["a b c d e f g h", "a b"] * 20, vocabulary_size=50)
    ids = encode(tokenizer, ["a b c d e f g h", "a b"], sequence_length=3, keep=keep)
    words = [[tokenizer.id_to_token(i) for i in row if i] for row in ids.tolist()]
    assert words == ([["a", "b", "c"], ["a", "b"]] if keep == "start" else [["f", "g", "h"], ["a", "b"]])
    assert ids[1, 2] == 0  # padding at the end either way


def test_bert_finetune_says_it_trained_from_scratch(finished):
    workdir, summaries = finished
    summary = summaries["bert-finetune-sst2"]
    report = (workdir / summary["run_dir"] / "report.md").read_text()
    assert "> **Note:** The keras-hub preset 'bert_tiny_en_uncased' could not be loaded" in report
    assert "KERARCH_OFFLINE=1" in report and "trained from scratch" in report
    assert summary["metrics"]["dev_examples"] == 40  # dev.tsv, not the unlabelled test.tsv


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


# --- bad input --------------------------------------------------------------------------------


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


def test_missing_data_dir(tmp_path):
    with pytest.raises(KerarchError, match="is not an existing folder"):
        load_text_classification("sst2", tmp_path / "missing")
    with pytest.raises(KerarchError, match="aclImdb folder"):
        load_text_classification("imdb_reviews", tmp_path)
    with pytest.raises(KerarchError, match="does not exist"):
        load_corpus(tmp_path / "missing", max_documents=10, max_chars=1000)


def test_tsv_without_a_label_column(tmp_path):
    (tmp_path / "train.tsv").write_text("sentence\tscore\na film\t1\n")
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\na film\t1\n")
    with pytest.raises(KerarchError, match="needs a text column .* and a label column"):
        load_text_classification("sst2", tmp_path)


def test_no_texts(tmp_path):
    (tmp_path / "train.tsv").write_text("sentence\tlabel\n")
    (tmp_path / "test.tsv").write_text("sentence\tlabel\na film\t1\n")
    with pytest.raises(KerarchError, match="no texts"):
        load_tsv_folder(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("\n\n")
    with pytest.raises(KerarchError, match="holds 0 document"):
        load_corpus(empty, max_documents=10, max_chars=1000)


def test_bad_tsv_rows_and_labels(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("sentence\tlabel\none\t1\ntwo\t0\textra\n")
    with pytest.raises(KerarchError, match="line 3: 3 fields"):
        read_tsv(path)
    (tmp_path / "train.tsv").write_text("text\tlabel\na\tsports\n")
    (tmp_path / "test.tsv").write_text("text\tlabel\nb\tweather\n")
    with pytest.raises(KerarchError, match=r"held-out labels \['weather'\]"):
        load_tsv_folder(tmp_path)
    (tmp_path / "test.tsv").write_text("text\tlabel\nb\t2\n")
    (tmp_path / "train.tsv").write_text("text\tlabel\na\t0\n")
    with pytest.raises(KerarchError, match="label 2 is out of range"):
        load_tsv_folder(tmp_path, class_names=["negative", "positive"])


# --- pure functions ---------------------------------------------------------------------------

DEB822 = """Package: hello
Version: 2.10-3
Section: devel
Description: example package based on GNU hello
 The GNU hello program produces a familiar, friendly greeting.
 .
 It allows non-programmers to use a classic computer science tool.

Package: fonts-free
Section: non-free/fonts
Description: some fonts

Package: hello
Section: games
Description: a second record of hello, ignored

Package: no-section
Description: dropped: no Section field
"""


def test_parse_deb822_and_descriptions():
    records = parse_deb822(DEB822)
    assert [r["Package"] for r in records] == ["hello", "fonts-free", "hello", "no-section"]
    assert records[0]["Version"] == "2.10-3"
    assert description_text(records[0]["Description"]) == (
        "example package based on GNU hello\nThe GNU hello program produces a familiar, friendly greeting.\n\n"
        "It allows non-programmers to use a classic computer science tool."
    )
    examples = debian_examples(records)
    assert set(examples) == {"hello", "fonts-free"}
    assert examples["hello"][1] == "devel" and examples["fonts-free"] == ("some fonts", "fonts")


@pytest.mark.parametrize("section, stripped", [
    ("libs", "libs"), ("contrib/net", "net"), ("non-free/fonts", "fonts"), ("non-free-firmware/kernel", "kernel"),
])
def test_strip_area(section, stripped):
    assert strip_area(section) == stripped


def _fake_archive(packages):
    return "\n\n".join(f"Package: {name}\nSection: {section}\nDescription: {text}" for name, section, text in packages)


def test_debian_packages_keep_the_largest_sections_and_split_by_name_hash(monkeypatch):
    packages = [(f"pkg{i}", section, f"{section} thing number {i}")
                for section, count in (("libs", 60), ("main/python", 40), ("contrib/games", 30), ("doc", 5))
                for i in range(count * 1000, count * 1000 + count)]
    monkeypatch.setattr(textclass, "read_debian_archive", lambda: (_fake_archive(packages), "fake", None))
    data = load_debian_packages(num_classes=2, min_examples=10)
    assert data.class_names == ["libs", "python"]
    assert len(data.train_texts) + len(data.test_texts) == 100
    test_names = {t.split()[-1] for t in data.test_texts}
    kept = [name for name, section, _ in packages if section in ("libs", "main/python")]
    assert test_names == {name[3:] for name in kept if textclass._hash_percent(name) < 10}
    random.Random(0).shuffle(packages)  # the split does not depend on the order of the list
    again = load_debian_packages(num_classes=3, min_examples=10)
    assert again.class_names == ["libs", "python", "games"]
    assert {t.split()[-1] for t in again.test_texts} >= test_names
    with pytest.raises(KerarchError, match="only 1 section"):
        load_debian_packages(num_classes=5, min_examples=50)


def test_debian_archive_falls_back_to_dpkg_status(monkeypatch, tmp_path):
    status = tmp_path / "status"
    status.write_text(DEB822)

    def no_apt(*args, **kwargs):
        raise FileNotFoundError("apt-cache")

    monkeypatch.setattr(subprocess, "run", no_apt)
    monkeypatch.setattr(textclass, "DPKG_STATUS", str(status))
    text, where, notice = textclass.read_debian_archive()
    assert text == DEB822 and where == str(status)
    assert "apt-cache dumpavail` failed" in notice and "installed packages" in notice


def test_read_tsv_keeps_quotes_and_skips_blank_lines(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_text('sentence\tlabel\nit \'s a "gem" \t1\n\nflat , lifeless\t0\n')
    assert read_tsv(path) == (['it \'s a "gem" ', "flat , lifeless"], ["1", "0"])


def test_with_validation_holds_out_a_seeded_share(tmp_path):
    data = load_tsv_folder(write_topic_tsv(tmp_path / "topics"))
    split = with_validation(data, 30, seed=0, train_examples=50)
    assert len(split.val_texts) == 30 and len(split.train_texts) == 50
    assert not set(split.val_texts) & set(split.train_texts)
    assert list(with_validation(data, 30, seed=0).val_texts) == list(split.val_texts)
    with pytest.raises(KerarchError, match="leaves no training examples"):
        with_validation(data, len(data.train_texts), seed=0)


def test_sentence_splitting_and_docstrings():
    assert split_sentences("One two.  Three?\nFour 3.5 five! six") == ["One two.", "Three?", "Four 3.5 five! six"]
    source = '"""Module doc."""\nclass A:\n    """Class doc."""\n    def f(self):\n        """Method doc."""\n'
    assert python_docstrings(source) == ["Module doc.", "Class doc.", "Method doc."]
    assert python_docstrings("def broken(:\n") == []


def test_sentence_pairs_are_half_true_next_half_random():
    documents = [[f"d{d}s{s}" for s in range(5)] for d in range(40)]
    pairs = sentence_pairs(documents, seed=0)
    assert len(pairs) == 40 * 4 and pairs == sentence_pairs(documents, seed=0)
    for first, second, label in pairs:
        doc, index = first[1:].split("s")
        if label == 0:
            assert second == f"d{doc}s{int(index) + 1}"
        else:
            assert not second.startswith(f"d{doc}s")
    assert 0.4 < np.mean([label for *_, label in pairs]) < 0.6
    with pytest.raises(KerarchError, match="at least 2 documents"):
        sentence_pairs(documents[:1], seed=0)


def test_word_piece_encoding_pads_with_zero_and_packs_pairs():
    texts = ["the cat sat on the mat", "a dog barked", "the cat and the dog"] * 10
    tokenizer = word_piece_tokenizer(texts, vocabulary_size=100)
    assert tokenizer.get_vocabulary()[:5] == list(textclass.SPECIAL_TOKENS)
    ids = encode(tokenizer, texts[:2], sequence_length=8)
    assert ids.shape == (2, 8) and ids.dtype == np.int32 and (ids[1, 3:] == 0).all()
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    token_ids, segment_ids = encode_packed(tokenizer, texts[1:2], texts[1:2], sequence_length=12)
    assert token_ids[0, 0] == cls and list(token_ids[0]).count(sep) == 2
    assert segment_ids[0].tolist() == [0] * 5 + [1] * 4 + [0] * 3
    assert (token_ids[0, 9:] == 0).all()
