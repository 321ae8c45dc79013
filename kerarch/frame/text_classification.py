"""TextClassification: the recipe kind of the text classifiers (lstm-sentiment, gru-textclass, bert-finetune-*).

The kind loads `dataset` (or `data_dir`), holds out a seeded validation
share, learns a WordPiece vocabulary from the training texts, encodes every
split to token ids, compiles with sparse categorical cross-entropy and
accuracy, keeps the best epoch by validation accuracy and reports held-out
accuracy beside two baselines fitted on the same split: the majority class
and TF-IDF + logistic regression. The exported model takes float32 token
ids (the exporter's one float input) with its recurrent loops unrolled; its
SavedModel also takes raw strings (`serve_text`), tokenized inside by the
same TensorFlow ops as the training data (`text_to_token_ids`).

A recipe says its config defaults and `build_model` (ending in
`self.compile(model, data)`), and overrides `load_texts`, `tokenizer`,
`text_to_token_ids`, `model_inputs` or `export_adapter` where its data or
model differ.
`RecurrentTextClassification` builds the model too: a recurrent builder of
kerarch.sequence.recurrent (`builder`) with the `RecurrentOptions` keys.

`BertTextClassification` (bert-finetune-sst2, bert-finetune-imdb) fine-tunes
`bert_classifier` on `[CLS] text [SEP]` token ids. Its encoder starts from
`pretrained=`: a finished bert-pretrain-mlm run (its folder, or a .keras
model in it) gives the encoder weights and the WordPiece vocabulary, checked
by `load_pretrained_bert` before any run folder is made; a keras-hub preset
gives its own (offline: a notice, then from scratch); none trains
`scratch_config` from random initialisation on a vocabulary learned from
the training texts. The vocabulary the model reads is recorded in the run
folder (vocabulary.txt); the export takes float32 token ids of it, or raw
strings (`serve_text`).
"""

import dataclasses
import logging
import os
import typing
from pathlib import Path

import numpy as np

from kerarch.config import OPTIMIZERS, QUANTIZE_MODES, SCHEDULES, RecipeConfig, option
from kerarch.data import make_dataset
from kerarch.data.sources import downloads_allowed
from kerarch.data.textclass import (
    SPECIAL_TOKENS,
    EncodedText,
    bert_inputs,
    joined_notices,
    load_text_classification,
    packed_ids_of,
    run_on_texts,
    token_ids_of,
    with_validation,
    word_piece_from_vocabulary,
    word_piece_tokenizer,
    write_vocabulary,
)
from kerarch.export import TextEndpoint
from kerarch.export.adapters import bert_with_float_ids, unrolled_with_float_ids
from kerarch.frame.language_model import VOCABULARY_FILE, load_pretrained_bert
from kerarch.frame.recipe import Recipe
from kerarch.sequence.bert import BERT_CONFIGS, bert_classifier

log = logging.getLogger("kerarch")
EXPORT_CHECKS = 500  # held-out texts the exported files are verified on


@dataclasses.dataclass
class TextClassificationConfig(RecipeConfig):
    """Keys of every text classifier: vocabulary, sequence length, validation and training subsets."""

    vocabulary_size: int = option(
        20000, "Largest WordPiece vocabulary learned from the training texts (keras-hub's learner keeps "
        "words seen 10+ times, so it may return fewer).", minimum=len(SPECIAL_TOKENS) + 1,
    )
    vocabulary_texts: int = option(
        0, "Learn the vocabulary from the first this many (shuffled) training texts (0: all); the learner "
        "is slow, about a minute for 50k short texts on 2 CPU cores.", minimum=0,
    )
    sequence_length: int = option(200, "Tokens per text: longer texts are cut, shorter ones padded.", minimum=1)
    validation_examples: int = option(2000, "Training examples held out for validation (best checkpoint).", minimum=1)
    train_examples: int = option(0, "Use only this many training examples (0: all); for quick runs.", minimum=0)
    quantize: typing.Optional[str] = option(
        None, "Also export a quantized TFLite file (not int8: it would quantize the token ids).",
        choices=(None, *(mode for mode in QUANTIZE_MODES if mode != "int8")),
    )


@dataclasses.dataclass
class RecurrentOptions:
    """Keys of a recurrent classifier; put it before the kind's config (`class C(RecurrentOptions, ...Config)`)."""

    embedding_dim: int = option(128, "Width of the token embedding.", minimum=1)
    units: int = option(64, "Recurrent units per layer and direction.", minimum=1)
    num_layers: int = option(1, "Stacked recurrent layers.", minimum=1)
    bidirectional: bool = option(True, "Read each text forwards and backwards (Schuster & Paliwal 1997).")
    dropout: float = option(0.2, "Dropout after each recurrent layer.", minimum=0.0)


class TextClassification(Recipe):
    """Text classification: WordPiece token ids, accuracy vs the majority class and TF-IDF, verified export."""

    Config = TextClassificationConfig
    loss = "sparse_categorical_crossentropy"
    metrics = ("accuracy",)
    monitor = "val_accuracy"
    keep_best = True  # evaluate and export the epoch with the best validation accuracy
    #: The exported model's view (kerarch.export.adapters): float32 token ids in, recurrent loops unrolled.
    export_adapter = staticmethod(unrolled_with_float_ids)

    def load_texts(self):
        """The TextData of `config.dataset`, or of the copy in `config.data_dir`."""
        return load_text_classification(self.config.dataset, self.config.data_dir)

    def tokenizer(self, data):
        """A WordPiece tokenizer learned from (the first `vocabulary_texts` of) the training texts."""
        texts = data.train_texts[: self.config.vocabulary_texts or None]
        return word_piece_tokenizer(texts, vocabulary_size=self.config.vocabulary_size)

    def text_to_token_ids(self, tokenizer):
        """TF ops from a batch of strings to token ids (B, sequence_length): the data and serve_text run them."""
        return token_ids_of(tokenizer, sequence_length=self.config.sequence_length)

    def encode(self, tokenizer, texts):
        """Token ids (N, sequence_length) of `texts`, int32."""
        return run_on_texts(self.text_to_token_ids(tokenizer), texts)

    def model_inputs(self, token_ids, labels):
        """The model's (inputs, labels) from a text's token ids, inside tf.data (here: the ids)."""
        return token_ids, labels

    def load_data(self):
        cfg = self.config
        data = with_validation(self.load_texts(), cfg.validation_examples, cfg.seed, cfg.train_examples)
        tokenizer = self.tokenizer(data)
        return EncodedText(data, tokenizer, *(self.encode(tokenizer, t) for t in (
            data.train_texts, data.val_texts, data.test_texts)))

    def datasets(self, data):
        cfg = self.config
        train = make_dataset(data.x_train, data.texts.train_labels, batch_size=cfg.batch_size, shuffle=True,
                             seed=cfg.seed, map_fn=self.model_inputs)
        val = make_dataset(data.x_val, data.texts.val_labels, batch_size=cfg.batch_size, map_fn=self.model_inputs)
        return train, val

    def evaluate(self, model, data):
        texts, split = data.texts, data.texts.test_split
        held_out = make_dataset(data.x_test, texts.test_labels, batch_size=self.config.batch_size,
                                map_fn=self.model_inputs)
        loss, accuracy = model.evaluate(held_out, verbose=0)
        return {
            "dataset": texts.name,
            "classes": texts.num_classes,
            "train_examples": len(texts.train_texts),
            f"{split}_examples": len(texts.test_texts),
            "vocabulary_size": data.vocabulary_size,
            f"{split}_loss": float(loss),
            f"{split}_accuracy": float(accuracy),
            f"baseline_majority_class_{split}_accuracy": majority_accuracy(texts.train_labels, texts.test_labels),
            f"baseline_tfidf_logreg_{split}_accuracy": tfidf_logreg_accuracy(
                texts.train_texts, texts.train_labels, texts.test_texts, texts.test_labels
            ),
        }

    def model_to_export(self, model):
        return self.export_adapter(model)

    def export_inputs(self, data):
        # The exporter feeds float32; token ids below 2**24 are exact in float32.
        return (data.x_train[:200].astype("float32"), data.x_test[:EXPORT_CHECKS].astype("float32"),
                data.texts.test_labels[:EXPORT_CHECKS])

    def text_endpoint(self, data):
        """The SavedModel's serve_text: raw strings, tokenized as the training data was, verified on the test texts."""
        return TextEndpoint(self.text_to_token_ids(data.tokenizer), data.tokenizer,
                            data.texts.test_texts[:EXPORT_CHECKS])


class RecurrentTextClassification(TextClassification):
    """A recurrent text classifier: `builder` (task="classify") over the token ids, with the config's `builder_keys`."""

    builder = None  # a kerarch.sequence.recurrent builder, as a staticmethod: lstm, gru
    builder_keys = tuple(field.name for field in dataclasses.fields(RecurrentOptions))

    def build_model(self, data):
        cfg = self.config
        model = self.builder(task="classify", vocabulary_size=data.vocabulary_size, sequence_length=cfg.sequence_length,
                             num_classes=data.num_classes, **{key: getattr(cfg, key) for key in self.builder_keys})
        return self.compile(model, data)


@dataclasses.dataclass
class BertFinetuneConfig(TextClassificationConfig):
    """Keys of a fine-tuned BERT classifier: where its encoder starts, and the paper's fine-tuning recipe."""

    epochs: int = option(3, "Passes over the training data (paper: 2 to 4).", minimum=1)
    batch_size: int = option(32, "Global batch size, split across replicas (paper: 16 or 32).", minimum=1)
    pretrained: typing.Optional[str] = option(
        "bert_tiny_en_uncased", "Where the encoder starts: a finished bert-pretrain-mlm run folder (or a .keras "
        "model in it), whose weights and vocabulary are used; a keras-hub BERT preset (name or folder; one that "
        "fails to load, e.g. offline: a notice, then scratch_config); none: scratch_config, randomly initialised.")
    scratch_config: str = option("tiny", "BERT size trained without pretrained weights.", choices=tuple(BERT_CONFIGS))
    vocabulary_size: int = option(8000, "WordPiece vocabulary learned without pretrained weights (a preset or run "
                                  "has its own).", minimum=6)
    sequence_length: int = option(64, "Tokens per text, [CLS] and [SEP] included (a longer text is cut: see keep); "
                                  "at most the pretrained positions.", minimum=3)
    keep: str = option("start", "Which tokens of a longer text to keep: its start, or head_tail: the first quarter "
                       "of the room and the end (Sun et al. 2019).", choices=("start", "head_tail"))
    weight_decay: float = option(0.01, "Decoupled weight decay (paper: 0.01).", minimum=0.0)
    optimizer: str = option("adamw", "Optimizer (paper: Adam with decoupled weight decay).", choices=OPTIMIZERS)
    schedule: str = option("linear", "Learning-rate schedule (paper: linear decay to 0, after warmup_epochs).",
                           choices=SCHEDULES)
    dropout: float = option(0.1, "Dropout in BERT and before the classifier (paper: 0.1).", minimum=0.0)


class BertTextClassification(TextClassification):
    """BERT fine-tuned on `[CLS] text [SEP]`: from a pretraining run, a keras-hub preset, or from scratch."""

    Config = BertFinetuneConfig
    model_inputs = staticmethod(bert_inputs)
    export_adapter = staticmethod(bert_with_float_ids)  # float32 token ids in; segment ids and mask made inside
    #: Peak learning rates when `learning_rate` is none: (with pretrained weights, from scratch).
    learning_rates = (5e-5, 3e-4)

    def load_data(self):
        data = super().load_data()
        write_vocabulary(self.run.path / VOCABULARY_FILE, data.tokenizer)
        return data

    def tokenizer(self, data):
        """The pretraining run's or the preset's vocabulary, else one learned from the training texts."""
        cfg = self.config
        self.pretrained_run, self.preset_loaded = None, False
        if is_run_reference(cfg.pretrained):
            self.pretrained_run = load_pretrained_bert(cfg.pretrained, sequence_length=cfg.sequence_length)
            self.encoder_start = f"pretrained: {self.pretrained_run.source}"
            log.info("Fine-tuning the encoder of %s.", self.pretrained_run.source)
            return word_piece_from_vocabulary(self.pretrained_run.vocabulary)
        tokenizer, why = preset_tokenizer(cfg.pretrained)
        if tokenizer is not None:
            self.preset_loaded, self.encoder_start = True, f"pretrained: keras-hub preset {cfg.pretrained}"
            return tokenizer
        tokenizer = super().tokenizer(data)
        self.encoder_start = f"random initialisation ({cfg.scratch_config} config)"
        data.notice = joined_notices(data.notice, why and (
            f"The keras-hub preset {cfg.pretrained!r} could not be loaded ({why}), so BERT ({cfg.scratch_config} "
            f"config) is trained from scratch: random initialisation and a {tokenizer.vocabulary_size():,}-token "
            "WordPiece vocabulary learned from the training sentences. Expect far lower accuracy than "
            "fine-tuning pretrained BERT."))
        return tokenizer

    def text_to_token_ids(self, tokenizer):
        """`[CLS] text [SEP]` ids, a longer text cut as `keep` says (encode_packed's ops)."""
        pack = packed_ids_of(tokenizer, sequence_length=self.config.sequence_length, keep=self.config.keep)
        return lambda texts: pack(texts)[0]

    def build_model(self, data):
        cfg = self.config
        if self.pretrained_run is not None:
            start = dict(pretrained=self.pretrained_run.encoder)
        elif self.preset_loaded:
            start = dict(pretrained=cfg.pretrained)
        else:
            start = dict(config=cfg.scratch_config, vocabulary_size=data.vocabulary_size,
                         max_sequence_length=cfg.sequence_length)
        model = bert_classifier(num_classes=data.num_classes, dropout=cfg.dropout, **start)
        learning_rate = cfg.learning_rate
        if learning_rate is None:
            learning_rate = self.learning_rates[0 if "pretrained" in start else 1]
        return self.compile(model, data, optimizer=self.make_optimizer(data, learning_rate=learning_rate))

    def evaluate(self, model, data):
        return {**super().evaluate(model, data), "encoder_start": self.encoder_start}


def is_run_reference(pretrained):
    """Whether `pretrained=` names a kerarch run (a path) rather than a keras-hub preset (a name, folder or URL).

    A keras-hub preset folder holds metadata.json; a name like
    "bert_tiny_en_uncased" is neither a path on disk nor path-like.
    """
    if pretrained is None or "://" in pretrained:
        return False
    path = Path(os.path.expanduser(pretrained))
    if path.is_dir():
        return not (path / "metadata.json").is_file()
    return path.exists() or pretrained.endswith(".keras") or os.sep in pretrained


def tfidf_logreg_accuracy(train_texts, train_labels, test_texts, test_labels):
    """Test accuracy of a bag-of-words baseline: TF-IDF logistic regression.

    Unigrams and bigrams seen in 2+ training texts, sublinear term
    frequencies; multinomial logistic regression with weak regularisation
    (C=10), fitted by SAGA (seconds where lbfgs takes minutes).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    classifier = LogisticRegression(C=10.0, solver="saga", tol=1e-3, max_iter=1000)
    classifier.fit(vectorizer.fit_transform(train_texts), train_labels)
    return float((classifier.predict(vectorizer.transform(test_texts)) == test_labels).mean())


def majority_accuracy(train_labels, test_labels):
    """Accuracy of always predicting the commonest training label."""
    return float(np.mean(test_labels == np.bincount(train_labels).argmax()))


def preset_tokenizer(preset):
    """(the preset's BertTokenizer, None), or (None, why not); (None, None) when preset is None.

    A preset name needs the network (Kaggle), so with KERARCH_OFFLINE=1 only
    a local preset folder is tried.
    """
    if preset is None:
        return None, None
    import keras_hub

    if not os.path.isdir(preset) and not downloads_allowed():
        return None, "downloads are off: KERARCH_OFFLINE=1"
    try:
        return keras_hub.tokenizers.BertTokenizer.from_preset(preset), None
    except Exception as error:  # network, unknown name, corrupt download: all mean "from scratch"
        return None, f"{type(error).__name__}: {str(error).strip().splitlines()[0][:200]}"
