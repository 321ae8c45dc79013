"""bert-finetune-sst2: BERT (Devlin et al. 2019) fine-tuned on GLUE SST-2 sentiment.

Data: GLUE SST-2 (Socher et al. 2013; 67,349 training phrases, 872 dev
sentences, positive or negative; the test labels are hidden, so the dev set
is the held-out set) from TensorFlow Datasets (glue/sst2) when prepared or
downloadable, or `data_dir=` the unzipped SST-2 folder of GLUE
(https://dl.fbaipublicfiles.com/glue/data/SST-2.zip: train.tsv and dev.tsv,
header `sentence<TAB>label`). Offline without a copy the run stops with a
KerarchError saying how to get it.

Model: the `bert_classifier` builder (kerarch.sequence.bert): dropout and a
dense layer on the pooled [CLS] output. With `pretrained=` a keras-hub
preset (default bert_tiny_en_uncased, Turc et al. 2019), its weights and
WordPiece vocabulary are used. When the preset cannot be loaded (offline,
or KERARCH_OFFLINE=1) the recipe says so in a notice, also in the report,
and trains the `scratch_config` BERT from random initialisation with a
WordPiece vocabulary learned from the training sentences: a much weaker
model than fine-tuned BERT. AdamW with the learning rate decayed linearly to
0, as in the paper. The report compares dev accuracy with the majority class.

Expected accuracy: not measured -- the development machine is offline and
holds no SST-2 copy. For scale, the BERT miniatures release (Turc et al.,
google-research/bert) reports 83.2 % SST-2 test accuracy for BERT-Tiny
fine-tuned 4 epochs with the best of a learning-rate and batch-size grid.
"""

import dataclasses
import os
import typing

import keras
import tensorflow as tf

from kerarch.config import OPTIMIZERS, SCHEDULES, option
from kerarch.data.textclass import downloads_allowed, encode_packed, load_text_classification
from kerarch.frame import register_recipe
from kerarch.sequence.bert import BERT_CONFIGS, bert_classifier
from recipes.lstm_sentiment import TextClassifier, TextClassifierConfig


@dataclasses.dataclass
class BertFinetuneSst2Config(TextClassifierConfig):
    epochs: int = option(3, "Passes over the training data (paper: 2 to 4).", minimum=1)
    batch_size: int = option(32, "Global batch size, split across replicas (paper: 16 or 32).", minimum=1)
    dataset: str = option("sst2", "GLUE SST-2 (binary sentiment of movie-review sentences).", choices=("sst2",))
    data_dir: typing.Optional[str] = option(
        None, "The unzipped GLUE SST-2 folder (train.tsv and dev.tsv, header sentence<TAB>label); default: TFDS "
        "glue/sst2.",
    )
    pretrained: typing.Optional[str] = option(
        "bert_tiny_en_uncased", "keras-hub BERT preset (name or local preset folder) to fine-tune; none, or a "
        "preset that cannot be loaded: train scratch_config from random initialisation.",
    )
    scratch_config: str = option("tiny", "BERT size trained from scratch without a preset.",
                                 choices=tuple(BERT_CONFIGS))
    vocabulary_size: int = option(8000, "Largest WordPiece vocabulary learned from the training sentences "
                                  "(from scratch only; a preset brings its own).", minimum=6)
    sequence_length: int = option(64, "Tokens per sentence, [CLS] and [SEP] included.", minimum=3)
    learning_rate: typing.Optional[float] = option(
        None, "Peak AdamW learning rate, decayed linearly to 0; none: 5e-5 with a preset (the paper's grid: "
        "2e-5 to 5e-5), 3e-4 from scratch.", minimum=0.0,
    )
    weight_decay: float = option(0.01, "Decoupled weight decay (paper: 0.01).", minimum=0.0)
    optimizer: str = option("adamw", "Optimizer (paper: Adam with decoupled weight decay).", choices=OPTIMIZERS)
    schedule: str = option("linear", "Learning-rate schedule (paper: linear decay to 0 after a warmup).",
                           choices=SCHEDULES)
    dropout: float = option(0.1, "Dropout of embeddings, attention, residuals and the classifier (paper: 0.1).",
                            minimum=0.0)
    validation_examples: int = option(2000, "Training examples held out for validation (best checkpoint).",
                                      minimum=1)


@register_recipe("bert-finetune-sst2")
class BertFinetuneSst2(TextClassifier):
    """BERT fine-tuned on SST-2 (from scratch when no preset loads); dev accuracy vs the majority class."""

    Config = BertFinetuneSst2Config
    preset_loaded = False

    def load_texts(self):
        return load_text_classification(self.config.dataset, self.config.data_dir)

    def tokenizer(self, data):
        """The preset's WordPiece tokenizer, else one learned from the training sentences (with a notice)."""
        tokenizer, why = preset_tokenizer(self.config.pretrained)
        self.preset_loaded = tokenizer is not None
        if tokenizer is not None:
            return tokenizer
        tokenizer = super().tokenizer(data)
        if why:
            scratch = (
                f"The keras-hub preset {self.config.pretrained!r} could not be loaded ({why}), so BERT "
                f"({self.config.scratch_config} config) is trained from scratch: random initialisation and a "
                f"{tokenizer.vocabulary_size():,}-token WordPiece vocabulary learned from the training sentences. "
                "Expect far lower accuracy than fine-tuning pretrained BERT."
            )
            data.notice = " ".join(n for n in (data.notice, scratch) if n)
        return tokenizer

    def encode(self, tokenizer, texts):
        token_ids, _ = encode_packed(tokenizer, texts, sequence_length=self.config.sequence_length)
        return token_ids

    def model_inputs(self, token_ids, labels):
        segment_ids = tf.zeros_like(token_ids)
        padding_mask = tf.cast(tf.not_equal(token_ids, 0), tf.int32)
        return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}, labels

    def build_model(self, data):
        cfg = self.config
        if self.preset_loaded:
            model = bert_classifier(num_classes=data.num_classes, pretrained=cfg.pretrained, dropout=cfg.dropout)
        else:
            model = bert_classifier(
                num_classes=data.num_classes, config=cfg.scratch_config, vocabulary_size=data.vocabulary_size,
                max_sequence_length=cfg.sequence_length, dropout=cfg.dropout,
            )
        learning_rate = cfg.learning_rate or (5e-5 if self.preset_loaded else 3e-4)
        model.compile(
            optimizer=self.make_optimizer(data, learning_rate=learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            jit_compile=self.jit_compile,
        )
        return model

    def model_to_export(self, model):
        return with_float_ids(model)


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


def with_float_ids(model):
    """The classifier as kerarch.export takes it: one float32 input of token ids (B, T).

    Single sentences, as in SST-2: segment ids are 0 and the padding mask is
    1 where the id is not 0 ([PAD]) -- what `model_inputs` feeds in training.
    Token ids below 2**24 are exact in float32.
    """
    token_ids = keras.Input(shape=(None,), dtype="float32", name="token_ids")
    ids = keras.ops.cast(token_ids, "int32")
    inputs = {
        "token_ids": ids,
        "segment_ids": keras.ops.zeros_like(ids),
        "padding_mask": keras.ops.cast(keras.ops.not_equal(ids, 0), "int32"),
    }
    return keras.Model(token_ids, model(inputs), name=model.name)
