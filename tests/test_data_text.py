"""The text data of kerarch.data.textclass: loaders, their bad input, tokenizing and encoding.

TSV folders, the Debian package archive, corpora of documents and sentence
pairs, each on small inputs written here.
"""

import random
import subprocess

import numpy as np
import pytest

from kerarch.data import textclass
from kerarch.data.textclass import (
    description_text,
    debian_examples,
    encode,
    encode_packed,
    load_corpus,
    load_debian_packages,
    load_text_classification,
    load_topics,
    load_tsv_folder,
    parse_deb822,
    python_docstrings,
    read_tsv,
    sentence_pairs,
    span_pairs,
    split_sentences,
    strip_area,
    with_validation,
    word_piece_tokenizer,
)
from kerarch.errors import KerarchError


# --- bad input --------------------------------------------------------------------------------


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


def test_topics_fall_back_from_ag_news_to_debian_packages_with_a_notice(monkeypatch, tmp_path):
    packages = [(f"{section}{i}", section, f"{section} thing {i}") for section, count in (("libs", 20), ("doc", 10))
                for i in range(count)]
    monkeypatch.setattr(textclass, "read_debian_archive", lambda: (_fake_archive(packages), "fake", "from dpkg."))

    def no_ag_news(name):
        raise KerarchError("No copy of AG News.")

    monkeypatch.setattr(textclass, "load_text_classification", no_ag_news)
    data = load_topics("auto", num_classes=2, min_examples=5)
    assert data.name == "debian_packages" and data.class_names == ["libs", "doc"]
    assert data.notice.startswith("AG News is not available here") and "No copy of AG News." in data.notice
    assert data.notice.endswith("from dpkg.")
    assert load_topics("debian_packages", num_classes=2, min_examples=5).notice == "from dpkg."
    with pytest.raises(KerarchError, match="No copy of AG News"):
        load_topics("ag_news", num_classes=2, min_examples=5)
    (tmp_path / "train.tsv").write_text("sentence\tlabel\na b\tx\nc d\ty\n")
    (tmp_path / "test.tsv").write_text("sentence\tlabel\ne f\tx\n")
    assert load_topics("ag_news", tmp_path, num_classes=2, min_examples=5).name == "tsv"  # data_dir replaces dataset


def test_read_tsv_keeps_quotes_and_skips_blank_lines(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_text('sentence\tlabel\nit \'s a "gem" \t1\n\nflat , lifeless\t0\n')
    assert read_tsv(path) == (['it \'s a "gem" ', "flat , lifeless"], ["1", "0"])


def test_with_validation_holds_out_a_seeded_share(tmp_path):
    topics = ("sports", "science", "music")
    for name, count in (("train.tsv", 150), ("test.tsv", 45)):
        rows = "".join(f"{name} text {i}\t{topics[i % 3]}\n" for i in range(count))
        (tmp_path / name).write_text("sentence\tlabel\n" + rows)
    data = load_tsv_folder(tmp_path)
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


def test_span_pairs_fill_the_budget_and_cover_every_sentence_once():
    rng = np.random.default_rng(1)
    documents = [[f"d{d}s{s}" for s in range(int(rng.integers(1, 12)))] for d in range(60)]
    lengths = [[int(rng.integers(2, 9)) for _ in doc] for doc in documents]
    tokens = {f"d{d}s{s}": n for d, doc in enumerate(lengths) for s, n in enumerate(doc)}
    pairs = span_pairs(documents, lengths, seed=0, max_tokens=20)
    assert pairs == span_pairs(documents, lengths, seed=0, max_tokens=20)
    assert pairs != span_pairs(documents, lengths, seed=1, max_tokens=20)
    covered = []
    for first, second, label in pairs:
        a, b = first.split(), second.split()
        doc = a[0].split("s")[0]
        indices = [int(s.split("s")[1]) for s in a]
        assert all(s.startswith(doc + "s") for s in a) and indices == list(range(indices[0], indices[-1] + 1))
        covered += a
        if label == 0:  # IsNext: B continues A in the same document, the chunk at most one sentence past 20
            assert [int(s.split("s")[1]) for s in b][0] == indices[-1] + 1 and all(s.startswith(doc + "s") for s in b)
            assert sum(tokens[s] for s in a + b[:-1]) < 20
            covered += b
        else:  # NotNext: B is a run of another document
            assert not any(s.startswith(doc + "s") for s in b)
    # Every sentence is in exactly one A or IsNext B: nothing is skipped, nothing repeated.
    assert sorted(covered) == sorted(s for doc in documents for s in doc)
    assert 0.35 < np.mean([label for *_, label in pairs]) < 0.75  # one-sentence chunks are always NotNext
    mean_tokens = np.mean([sum(tokens[s] for s in (first + " " + second).split()) for first, second, _ in pairs])
    assert mean_tokens > 14  # spans fill the budget; single sentences average 5.5 tokens
    with pytest.raises(KerarchError, match="at least 2 documents"):
        span_pairs(documents[:1], lengths[:1], seed=0, max_tokens=20)


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


@pytest.mark.parametrize("keep", ["start", "end"])
def test_encode_keeps_the_start_or_the_end_of_long_texts(keep):
    tokenizer = word_piece_tokenizer(["a b c d e f g h", "a b"] * 20, vocabulary_size=50)
    ids = encode(tokenizer, ["a b c d e f g h", "a b"], sequence_length=3, keep=keep)
    words = [[tokenizer.id_to_token(i) for i in row if i] for row in ids.tolist()]
    assert words == ([["a", "b", "c"], ["a", "b"]] if keep == "start" else [["f", "g", "h"], ["a", "b"]])
    assert ids[1, 2] == 0  # padding at the end either way


def test_a_vocabulary_file_round_trips_token_ids(tmp_path):
    """write_vocabulary / read_vocabulary: token i on line i, UTF-8, atomic; the tokenizer rebuilt gives the same ids."""
    from kerarch.data.textclass import read_vocabulary, word_piece_from_vocabulary, write_vocabulary

    tokenizer = word_piece_from_vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "café", "film", "##s"])
    write_vocabulary(tmp_path / "vocabulary.txt", tokenizer)
    vocabulary = read_vocabulary(tmp_path / "vocabulary.txt")
    assert vocabulary == tokenizer.get_vocabulary() and [p.name for p in tmp_path.iterdir()] == ["vocabulary.txt"]
    ids = word_piece_from_vocabulary(vocabulary)(["Films café zzz"])
    assert ids == tokenizer(["Films café zzz"]) == [[6, 7, 5, 1]]


@pytest.mark.parametrize("keep", ["start", "head_tail"])
def test_encode_packed_keeps_the_start_or_the_head_and_tail_of_long_texts(keep):
    letters = "a b c d e f g h i j k l m n o p"
    tokenizer = word_piece_tokenizer([letters, "a b"] * 20, vocabulary_size=60)
    ids = encode_packed(tokenizer, [letters, "a b"], sequence_length=10, keep=keep)[0]  # room for 8 tokens
    words = [[tokenizer.id_to_token(i) for i in row if i] for row in ids.tolist()]
    kept = "a b c d e f g h" if keep == "start" else "a b k l m n o p"  # head_tail: 8 // 4 = 2 first, 6 last
    assert words == [["[CLS]", *kept.split(), "[SEP]"], ["[CLS]", "a", "b", "[SEP]"]]
