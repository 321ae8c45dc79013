"""Language-model corpora: character chunks for next-token training, masked sentence pairs for BERT pretraining.

    chunks = load_char_chunks(None, max_chars=2_000_000, validation_fraction=0.1, block_size=128)
    chunks.train_dataset(16, seed=42, repeat=True)   # ({token_ids, padding_mask} (16, 128), next ids (16, 128))
    pairs = load_pretraining_pairs(None, max_documents=20000, max_chars=3_000_000, held_out_percent=10, ...)
    pairs.validation_dataset(32)                      # (inputs, targets, weights) of pairs masked once

Both hold the training split as `num_train` examples, give a training and a
validation `tf.data.Dataset`, and keep what the evaluation needs.
"""

import dataclasses

import keras_hub
import numpy as np
import tensorflow as tf

from kerarch.data.pipeline import make_dataset
from kerarch.data.text import CharVocabulary, load_text_corpus, sequence_chunks
from kerarch.data.textclass import (
    SPECIAL_TOKENS,
    encode_packed,
    load_corpus,
    load_imdb_corpus,
    sentence_pairs,
    span_pairs,
    token_counts,
    word_piece_tokenizer,
)
from kerarch.errors import KerarchError

# --- characters: next-token chunks (GPT) ---------------------------------------------------------


@dataclasses.dataclass
class CharChunks:
    """Chunks of an encoded character corpus: (N, block_size + 1) ids per split."""

    vocab: CharVocabulary
    train_ids: np.ndarray
    train_chunks: np.ndarray
    val_chunks: np.ndarray
    source: str
    notice: str | None

    @property
    def num_train(self):
        return len(self.train_chunks)

    def train_dataset(self, batch_size, *, seed, repeat):
        """Shuffled whole batches of (inputs, next ids)."""
        return make_dataset(self.train_chunks, batch_size=batch_size, shuffle=True, seed=seed,
                            map_fn=next_token_pairs, repeat=repeat, drop_remainder=True)

    def validation_dataset(self, batch_size):
        return make_dataset(self.val_chunks, batch_size=batch_size, map_fn=next_token_pairs)


def load_char_chunks(data_dir, *, max_chars, validation_fraction, block_size):
    """A text corpus (`load_text_corpus`) cut by position into training and validation chunks of `block_size`.

    The vocabulary is the training text's characters; the last
    `validation_fraction` of the text is the validation split.

    Raises:
        KerarchError: a bad validation_fraction, or a split too short for one chunk.
    """
    if not 0 < validation_fraction < 1:
        raise KerarchError(f"validation_fraction must be between 0 and 1, got {validation_fraction}.")
    corpus = load_text_corpus(data_dir, max_chars=max_chars)
    cut = int(len(corpus.text) * (1 - validation_fraction))
    train_text, val_text = corpus.text[:cut], corpus.text[cut:]
    vocab = CharVocabulary.from_text(train_text)
    train_ids, val_ids = vocab.encode(train_text), vocab.encode(val_text)
    for name, ids in (("training", train_ids), ("validation", val_ids)):
        if len(ids) <= block_size:
            raise KerarchError(
                f"The {name} text has {len(ids):,} characters, too few for one sequence of block_size="
                f"{block_size}; use more text (max_chars=, data_dir=) or a smaller block_size."
            )
    return CharChunks(vocab=vocab, train_ids=train_ids, train_chunks=sequence_chunks(train_ids, block_size),
                      val_chunks=sequence_chunks(val_ids, block_size), source=corpus.source, notice=corpus.notice)


def next_token_pairs(chunk):
    """tf.data map: a chunk (T + 1,) -> ({token_ids, padding_mask} (T,), next ids (T,))."""
    inputs = chunk[:-1]
    return {"token_ids": inputs, "padding_mask": tf.ones_like(inputs)}, chunk[1:]


# --- documents: masked sentence pairs (BERT) -----------------------------------------------------


@dataclasses.dataclass
class PretrainingPairs:
    """Sentence pairs as token ids, training pairs unmasked, held-out pairs masked once.

    `train` holds "token_ids", "segment_ids" and "nsp_labels" (N, ...)
    arrays; `val` and `test` hold the model inputs plus "mask_ids",
    "mask_weights" and "nsp_labels".
    """

    source: str
    tokenizer: object
    mask_generator: object
    documents: dict
    train: dict
    val: dict
    test: dict

    @property
    def num_train(self):
        return len(self.train["nsp_labels"])

    def train_dataset(self, batch_size, *, seed, repeat):
        """Shuffled batches of the training pairs with masks drawn afresh for every batch (dynamic masking)."""
        pairs = np.stack([self.train["token_ids"], self.train["segment_ids"]], axis=1)  # (N, 2, T)
        train = make_dataset(pairs, self.train["nsp_labels"], batch_size=batch_size, shuffle=True, seed=seed,
                             repeat=repeat)

        def masked(batch, nsp_labels):
            return mask_pairs({"token_ids": batch[:, 0], "segment_ids": batch[:, 1], "nsp_labels": nsp_labels},
                              self.mask_generator)

        return train.map(masked, num_parallel_calls=tf.data.AUTOTUNE)

    def validation_dataset(self, batch_size):
        return held_out_dataset(self.val, batch_size)

    def test_dataset(self, batch_size):
        return held_out_dataset(self.test, batch_size)


def load_pretraining_pairs(data_dir, *, max_documents, max_chars, held_out_percent, vocabulary_size,
                           sequence_length, mask_rate, max_predictions, seed, dataset="python_docstrings",
                           segments="sentences"):
    """BERT pretraining data (Devlin et al. 2019, section 3.1) from a corpus of documents.

    The corpus: `dataset="python_docstrings"`, the text of `data_dir` or the
    standard library's docstrings (`load_corpus`); `"imdb_reviews"`, IMDB's
    training reviews from `data_dir` or the installed copy, never its test
    reviews (`load_imdb_corpus`).

    Whole documents are split (`split_documents`), so no held-out sentence
    is trained on; a WordPiece vocabulary is learned from the training
    sentences. Each two consecutive sentences of a document give a pair,
    half the time with the true next sentence (IsNext), half the time with
    a random sentence of another document (NotNext) (`sentence_pairs`);
    with `segments="spans"`, A and B are spans of consecutive sentences
    that fill the sequence, as BERT's released code makes them (`span_pairs`);
    packed as `[CLS] A [SEP] B [SEP]` and cut to `sequence_length`. A
    keras_hub MaskedLMMaskGenerator selects `mask_rate` of the tokens (at
    most `max_predictions` per pair; 80 % become [MASK], 10 % a random
    token, 10 % stay); the held-out masks are drawn once here, the training
    masks per batch in `PretrainingPairs.train_dataset`.
    """
    if dataset == "imdb_reviews":
        corpus = load_imdb_corpus(data_dir, max_documents=max_documents, max_chars=max_chars, seed=seed)
    else:
        corpus = load_corpus(data_dir, max_documents=max_documents, max_chars=max_chars)
    splits = split_documents(corpus.documents, held_out_percent, seed)
    tokenizer = word_piece_tokenizer([s for doc in splits["train"] for s in doc], vocabulary_size=vocabulary_size)
    masker = keras_hub.layers.MaskedLMMaskGenerator(
        vocabulary_size=tokenizer.vocabulary_size(), mask_selection_rate=mask_rate,
        mask_token_id=tokenizer.token_to_id("[MASK]"), mask_selection_length=max_predictions,
        unselectable_token_ids=[tokenizer.token_to_id(t) for t in ("[PAD]", "[CLS]", "[SEP]")],
    )
    pairs = {name: encode_pairs(tokenizer, docs, seed + i, sequence_length=sequence_length, segments=segments)
             for i, (name, docs) in enumerate(splits.items())}
    return PretrainingPairs(
        source=corpus.source, tokenizer=tokenizer, mask_generator=masker,
        documents={name: len(docs) for name, docs in splits.items()}, train=pairs["train"],
        val=masked_once(pairs["validation"], masker), test=masked_once(pairs["test"], masker),
    )


def split_documents(documents, held_out_percent, seed):
    """{"train", "validation", "test"}: a seeded permutation of whole documents, held_out_percent % each held out."""
    order = np.random.default_rng(seed).permutation(len(documents))
    held = max(2, round(len(documents) * held_out_percent / 100))
    if 2 * held >= len(documents):
        raise KerarchError(
            f"{len(documents)} documents are too few to hold out {held} for validation and {held} for test; "
            "give more text (data_dir=, max_documents=, max_chars=)."
        )
    pick = lambda indices: [documents[i] for i in sorted(indices)]  # noqa: E731
    return {"train": pick(order[2 * held:]), "validation": pick(order[held: 2 * held]), "test": pick(order[:held])}


def encode_pairs(tokenizer, documents, seed, *, sequence_length, segments="sentences"):
    """{"token_ids", "segment_ids", "nsp_labels"} of the next-sentence pairs of `documents`.

    `segments="sentences"`: one sentence each (`sentence_pairs`); `"spans"`:
    consecutive sentences filling the sequence (`span_pairs`).
    """
    if segments == "spans":
        sentences = [s for doc in documents for s in doc]
        counts = iter(token_counts(tokenizer, sentences))
        lengths = [[next(counts) for _ in doc] for doc in documents]
        pairs = span_pairs(documents, lengths, seed, max_tokens=sequence_length - 3)  # [CLS] A [SEP] B [SEP]
    else:
        pairs = sentence_pairs(documents, seed)
    if not pairs:
        raise KerarchError(
            "The corpus is too small: a split has no two consecutive sentences to pair. Give more text "
            "(data_dir=, max_documents=, max_chars=) or raise held_out_percent."
        )
    first, second, labels = zip(*pairs)
    token_ids, segment_ids = encode_packed(tokenizer, first, second, sequence_length=sequence_length)
    return {"token_ids": token_ids, "segment_ids": segment_ids, "nsp_labels": np.asarray(labels, np.int32)}


def masked_once(pairs, masker):
    """Held-out pairs with their masks drawn once: numpy model inputs, "mask_ids", "mask_weights", "nsp_labels"."""
    batches = tf.data.Dataset.from_tensor_slices(pairs).batch(1024).map(lambda p: mask_pairs(p, masker))
    flat = [_flatten(batch) for batch in batches.as_numpy_iterator()]
    return {key: np.concatenate([batch[key] for batch in flat]) for key in flat[0]}


def mask_pairs(pairs, masker):
    """(inputs, targets, sample weights) for the pretraining model from a batch of unmasked pairs."""
    masked = masker(pairs["token_ids"])
    inputs = {
        "token_ids": masked["token_ids"],
        "segment_ids": pairs["segment_ids"],
        "padding_mask": tf.cast(tf.not_equal(pairs["token_ids"], 0), tf.int32),
        "mask_positions": masked["mask_positions"],
    }
    targets = {"mlm_logits": masked["mask_ids"], "nsp_logits": pairs["nsp_labels"]}
    weights = {"mlm_logits": masked["mask_weights"], "nsp_logits": tf.ones_like(pairs["nsp_labels"], tf.float32)}
    return inputs, targets, weights


def _flatten(element):
    """{"token_ids", ..., "mask_ids", "mask_weights", "nsp_labels"} from an (inputs, targets, weights) element."""
    inputs, targets, weights = element
    return {**inputs, "mask_ids": targets["mlm_logits"], "mask_weights": weights["mlm_logits"],
            "nsp_labels": targets["nsp_logits"]}


def held_out_dataset(split, batch_size):
    """Batches of (inputs, targets, weights) of masked-once held-out pairs."""
    inputs = {k: split[k] for k in ("token_ids", "segment_ids", "padding_mask", "mask_positions")}
    targets = {"mlm_logits": split["mask_ids"], "nsp_logits": split["nsp_labels"]}
    weights = {"mlm_logits": split["mask_weights"], "nsp_logits": np.ones(len(split["nsp_labels"]), np.float32)}
    return tf.data.Dataset.from_tensor_slices((inputs, targets, weights)).batch(batch_size)


def most_frequent_token(token_ids):
    """The commonest id in `token_ids` that is not a special token ([PAD], [CLS], ...)."""
    counts = np.bincount(token_ids.ravel())
    counts[: len(SPECIAL_TOKENS)] = 0
    return int(counts.argmax())
