"""bert-pretrain-mlm: BERT pretraining (Devlin et al. 2019): masked language model and next-sentence prediction.

Corpus: `data_dir=` a text or Python file or a folder of .txt/.md/.rst/.py
files (text files give one document per paragraph, Python files one per
docstring); by default the docstrings of the Python standard library, real
English prose found offline on every machine with Python, read in sorted
file order and bounded by `max_documents` and `max_chars`. Documents, not
pairs, are split into training, validation and test sets, so no held-out
sentence is ever trained on.

Pretraining data as in the paper, section 3.1: each two consecutive
sentences of a document give a pair, half the time with the true next
sentence (IsNext), half the time with a random sentence of another document
(NotNext); `[CLS] A [SEP] B [SEP]`, cut to `sequence_length` tokens. 15 % of
the tokens are selected for prediction; of those 80 % become [MASK], 10 % a
random token and 10 % stay (keras_hub.layers.MaskedLMMaskGenerator). Masks are
drawn afresh for every training batch (dynamic masking, as RoBERTa; the
paper masked each sequence 10 fixed ways); the validation and test masks are
drawn once. The model is the `bert_pretraining` builder
(kerarch.sequence.bert) with a WordPiece vocabulary learned from the
training sentences; AdamW with the learning rate decayed linearly to 0.

Report: test MLM accuracy at the selected positions against predicting the
most frequent training token everywhere, and test NSP accuracy against the
majority label of the test pairs (50 % by construction, up to sampling).

Export is off (`export=false` is the only value): kerarch.export handles
models with one input and one output, and this model has four inputs
(token_ids, segment_ids, padding_mask, mask_positions) and two outputs
(mlm_logits, nsp_logits). The trained model is the run's
checkpoints/best.keras.

Measured, full default run on the development machine (Python 3.11.7
stdlib: 8,604 docstrings, 1.7 M characters; 6,884/860/860 documents, 7,761
training and 961 test pairs, 2,888-token vocabulary; BERT-tiny, 10 epochs):
test MLM accuracy 0.1685 against 0.0581 for always predicting the most
frequent token, test NSP accuracy 0.6129 against 0.5328 for the majority
label. 730 s wall time on 2 CPU cores shared with other jobs (epochs of 36
to 90 s). NSP overfits after about 6 epochs (validation NSP loss rises while
the MLM loss still falls). Reproduce: `make recipe NAME=bert-pretrain-mlm`.
"""

import dataclasses
import typing

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from kerarch.config import OPTIMIZERS, SCHEDULES, RecipeConfig, option
from kerarch.data import make_dataset
from kerarch.data.textclass import (
    SPECIAL_TOKENS,
    encode_packed,
    load_corpus,
    sentence_pairs,
    word_piece_tokenizer,
)
from kerarch.errors import KerarchError
from kerarch.frame import Recipe, register_recipe
from kerarch.sequence.bert import BERT_CONFIGS, bert_pretraining

_NO_EXPORT = (
    "kerarch.export handles models with one input and one output; BERT pretraining has four inputs and two "
    "outputs. The trained model is the run's checkpoints/best.keras."
)


@dataclasses.dataclass
class BertPretrainMlmConfig(RecipeConfig):
    epochs: int = option(10, "Passes over the training pairs.", minimum=1)
    batch_size: int = option(32, "Global batch size, split across replicas.", minimum=1)
    dataset: str = option("python_docstrings", "The default corpus: docstrings of the Python standard library "
                          "(data_dir= replaces it).", choices=("python_docstrings",))
    data_dir: typing.Optional[str] = option(
        None, "A text or Python file, or a folder of .txt/.md/.rst/.py files, as the corpus.",
    )
    max_documents: int = option(20000, "Read at most this many documents (paragraphs or docstrings).", minimum=2)
    max_chars: int = option(3_000_000, "Stop reading once the documents hold this many characters.", minimum=1)
    held_out_percent: int = option(10, "Percent of the documents held out for validation, and again for test.",
                                   minimum=1)
    config: str = option("tiny", "BERT size (Turc et al. 2019 tiny to medium, Devlin et al. base, large).",
                         choices=tuple(BERT_CONFIGS))
    vocabulary_size: int = option(6000, "Largest WordPiece vocabulary learned from the training sentences.",
                                  minimum=len(SPECIAL_TOKENS) + 1)
    sequence_length: int = option(64, "Tokens per pair, [CLS] and both [SEP] included.", minimum=5)
    mask_rate: float = option(0.15, "Share of tokens selected for prediction (paper: 0.15).", minimum=0.0)
    max_predictions: int = option(12, "Selected positions per sequence at most (paper: 20 for 128 tokens).",
                                  minimum=1)
    learning_rate: float = option(5e-4, "Peak AdamW learning rate, decayed linearly to 0.", minimum=0.0)
    weight_decay: float = option(0.01, "Decoupled weight decay (paper: 0.01).", minimum=0.0)
    optimizer: str = option("adamw", "Optimizer (paper: Adam with decoupled weight decay).", choices=OPTIMIZERS)
    schedule: str = option("linear", "Learning-rate schedule (paper: linear decay to 0 after a warmup).",
                           choices=SCHEDULES)
    dropout: float = option(0.1, "Dropout of embeddings, attention and residuals (paper: 0.1).", minimum=0.0)
    export: bool = option(False, "Off: " + _NO_EXPORT, choices=(False,))


@dataclasses.dataclass
class PretrainingData:
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


@register_recipe("bert-pretrain-mlm")
class BertPretrainMlm(Recipe):
    """BERT pretraining (masked LM + next sentence) on a text corpus; accuracies vs unigram and chance."""

    Config = BertPretrainMlmConfig

    def load_data(self):
        cfg = self.config
        corpus = load_corpus(cfg.data_dir, max_documents=cfg.max_documents, max_chars=cfg.max_chars)
        splits = split_documents(corpus.documents, cfg.held_out_percent, cfg.seed)
        tokenizer = word_piece_tokenizer([s for doc in splits["train"] for s in doc],
                                         vocabulary_size=cfg.vocabulary_size)
        masker = keras_hub.layers.MaskedLMMaskGenerator(
            vocabulary_size=tokenizer.vocabulary_size(), mask_selection_rate=cfg.mask_rate,
            mask_token_id=tokenizer.token_to_id("[MASK]"), mask_selection_length=cfg.max_predictions,
            unselectable_token_ids=[tokenizer.token_to_id(t) for t in ("[PAD]", "[CLS]", "[SEP]")],
        )
        pairs = {
            name: self.encode_pairs(tokenizer, docs, cfg.seed + i) for i, (name, docs) in enumerate(splits.items())
        }
        return PretrainingData(
            source=corpus.source, tokenizer=tokenizer, mask_generator=masker,
            documents={name: len(docs) for name, docs in splits.items()}, train=pairs["train"],
            val=masked_once(pairs["validation"], masker), test=masked_once(pairs["test"], masker),
        )

    def encode_pairs(self, tokenizer, documents, seed):
        """{"token_ids", "segment_ids", "nsp_labels"} of the next-sentence pairs of `documents`."""
        pairs = sentence_pairs(documents, seed)
        if not pairs:
            raise KerarchError(
                "The corpus is too small: a split has no two consecutive sentences to pair. Give more text "
                "(data_dir=, max_documents=, max_chars=) or raise held_out_percent."
            )
        first, second, labels = zip(*pairs)
        token_ids, segment_ids = encode_packed(tokenizer, first, second, sequence_length=self.config.sequence_length)
        return {"token_ids": token_ids, "segment_ids": segment_ids, "nsp_labels": np.asarray(labels, np.int32)}

    def num_train_examples(self, data):
        return len(data.train["nsp_labels"])

    def build_model(self, data):
        cfg = self.config
        model = bert_pretraining(
            config=cfg.config, vocabulary_size=data.tokenizer.vocabulary_size(),
            max_sequence_length=cfg.sequence_length, dropout=cfg.dropout,
        )
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        model.compile(
            optimizer=self.make_optimizer(data),
            loss={"mlm_logits": loss, "nsp_logits": loss},
            weighted_metrics={name: ["sparse_categorical_accuracy"] for name in ("mlm_logits", "nsp_logits")},
            jit_compile=self.jit_compile,
        )
        return model

    def datasets(self, data):
        cfg = self.config
        pairs = np.stack([data.train["token_ids"], data.train["segment_ids"]], axis=1)  # (N, 2, T)
        train = make_dataset(pairs, data.train["nsp_labels"], batch_size=cfg.batch_size, shuffle=True, seed=cfg.seed)

        def masked(batch, nsp_labels):  # fresh masks for every batch: dynamic masking
            return _mask({"token_ids": batch[:, 0], "segment_ids": batch[:, 1], "nsp_labels": nsp_labels},
                         data.mask_generator)

        return train.map(masked, num_parallel_calls=tf.data.AUTOTUNE), _held_out_dataset(data.val, cfg.batch_size)

    def evaluate(self, model, data):
        test = data.test
        outputs = model.predict(_held_out_dataset(test, self.config.batch_size), verbose=0)
        selected = test["mask_weights"] > 0
        targets = test["mask_ids"][selected]
        predicted = outputs["mlm_logits"].argmax(-1)[selected]
        nsp = test["nsp_labels"]
        unigram = most_frequent_token(data.train["token_ids"])
        return {
            "documents_train_val_test": "/".join(str(n) for n in data.documents.values()),
            "train_pairs": len(data.train["nsp_labels"]),
            "test_pairs": len(nsp),
            "test_masked_tokens": int(selected.sum()),
            "vocabulary_size": data.tokenizer.vocabulary_size(),
            "test_mlm_accuracy": float(np.mean(predicted == targets)),
            "baseline_most_frequent_token_mlm_accuracy": float(np.mean(targets == unigram)),
            "test_nsp_accuracy": float(np.mean(outputs["nsp_logits"].argmax(-1) == nsp)),
            "baseline_majority_nsp_accuracy": float(max(nsp.mean(), 1 - nsp.mean())),
        }

    def export_inputs(self, data):
        raise KerarchError(f"bert-pretrain-mlm runs cannot be exported: {_NO_EXPORT}")


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


def masked_once(pairs, masker):
    """Held-out pairs with their masks drawn once: numpy model inputs, "mask_ids", "mask_weights", "nsp_labels"."""
    batches = tf.data.Dataset.from_tensor_slices(pairs).batch(1024).map(lambda p: _mask(p, masker))
    flat = [_flatten(batch) for batch in batches.as_numpy_iterator()]
    return {key: np.concatenate([batch[key] for batch in flat]) for key in flat[0]}


def most_frequent_token(token_ids):
    """The commonest id in `token_ids` that is not a special token ([PAD], [CLS], ...)."""
    counts = np.bincount(token_ids.ravel())
    counts[: len(SPECIAL_TOKENS)] = 0
    return int(counts.argmax())


def _mask(pairs, masker):
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


def _held_out_dataset(split, batch_size):
    """Batches of (inputs, targets, weights) of masked-once held-out pairs."""
    inputs = {k: split[k] for k in ("token_ids", "segment_ids", "padding_mask", "mask_positions")}
    targets = {"mlm_logits": split["mask_ids"], "nsp_logits": split["nsp_labels"]}
    weights = {"mlm_logits": split["mask_weights"], "nsp_logits": np.ones(len(split["nsp_labels"]), np.float32)}
    return tf.data.Dataset.from_tensor_slices((inputs, targets, weights)).batch(batch_size)
