"""Data preparation of the sequence recipes: time-series windows and baselines, the dates task, text corpora."""

import datetime
import math
from pathlib import Path

import numpy as np
import pytest

from kerarch.data.corpus import load_char_chunks, split_documents
from kerarch.data.dates import (
    FIRST_DAY, FORMATS, LAST_DAY, SOURCE_LENGTH, TARGET_LENGTH, date_pairs, load_date_pairs, render_date, split_days,
    teacher_forcing,
)
from kerarch.data.text import (
    END,
    PAD,
    START,
    UNK,
    CharVocabulary,
    bigram_bits_per_char,
    decode_targets,
    load_text_corpus,
    sequence_chunks,
    stdlib_folder,
    unigram_bits_per_char,
)
from kerarch.data.timeseries import (
    fill_gaps,
    forecast_errors,
    load_forecast_data,
    load_series,
    make_windows,
    persistence_forecast,
    read_csv_series,
    seasonal_naive_forecast,
    split_starts,
    window_split,
)
from kerarch.errors import KerarchError


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


def test_forecast_data_checks_its_keys_and_keeps_the_series():
    data = load_forecast_data("sunspots", None, column=None, window=24, horizon=1, test_fraction=0.15,
                              validation_fraction=0.1, relative=True)
    assert data.season == 11 and data.series.name == "sunspots" and data.source == data.series.source
    assert data.x_train.shape[1:] == (24, 1) and len(data.test_starts) == len(data.x_test)
    with pytest.raises(KerarchError, match="give the file with data_dir="):
        load_forecast_data("sunspots", None, column="x", window=24, horizon=1, test_fraction=0.15,
                           validation_fraction=0.1, relative=True)
    with pytest.raises(KerarchError, match="test_fraction must be between 0 and 0.5"):
        load_forecast_data("sunspots", None, column=None, window=24, horizon=1, test_fraction=0.5,
                           validation_fraction=0.1, relative=True)


# --- dates ----------------------------------------------------------------------------------


def test_date_rendering_and_disjoint_splits():
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


def test_date_pairs_encode_and_decode():
    data = load_date_pairs(seed=0, train_examples=50, validation_examples=10, test_examples=10)
    assert data.x_train.shape == (50, SOURCE_LENGTH) and data.y_test.shape == (10, TARGET_LENGTH + 2)
    assert decode_targets(data.y_test, data.target_vocab) == [iso for _, iso in data.test_text]
    inputs, labels = teacher_forcing(data.x_test[0], data.y_test[0])
    np.testing.assert_array_equal(inputs["decoder_token_ids"], data.y_test[0, :-1])
    np.testing.assert_array_equal(labels, data.y_test[0, 1:])
    np.testing.assert_array_equal(inputs["encoder_padding_mask"], data.x_test[0] != 0)


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


def test_char_chunks_split_by_position(tmp_path):
    folder = write_text_folder(tmp_path / "text")
    chunks = load_char_chunks(folder, max_chars=10**6, validation_fraction=0.1, block_size=32)
    assert chunks.train_chunks.shape[1] == chunks.val_chunks.shape[1] == 33 and chunks.num_train > 0
    inputs, targets = next(iter(chunks.validation_dataset(2)))
    np.testing.assert_array_equal(inputs["token_ids"][:, 1:], targets[:, :-1])
    assert inputs["padding_mask"].numpy().all()
    with pytest.raises(KerarchError, match="validation_fraction must be between 0 and 1"):
        load_char_chunks(folder, max_chars=10**6, validation_fraction=1.0, block_size=32)
    with pytest.raises(KerarchError, match="too few for one sequence of block_size=4000"):
        load_char_chunks(folder, max_chars=10**6, validation_fraction=0.1, block_size=4000)


def test_documents_are_split_whole_and_seeded():
    documents = [[f"sentence {i}."] for i in range(20)]
    splits = split_documents(documents, 10, seed=0)
    assert [len(split) for split in splits.values()] == [16, 2, 2]
    assert sorted(sum(splits.values(), [])) == sorted(documents) and split_documents(documents, 10, 0) == splits
    with pytest.raises(KerarchError, match="4 documents are too few"):
        split_documents(documents[:4], 10, seed=0)
