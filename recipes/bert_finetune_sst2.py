"""bert-finetune-sst2: BERT (Devlin et al. 2019) fine-tuned on GLUE SST-2 sentiment.

GLUE SST-2 (Socher et al. 2013; the dev set is the held-out set) from TFDS
glue/sst2 or `data_dir=`. `bert_classifier` from the keras-hub preset
`pretrained=`; when that cannot be loaded (offline), a notice says so and the
`scratch_config` BERT trains from random initialisation on a WordPiece
vocabulary learned from the training sentences. AdamW decayed linearly to 0,
as in the paper; the report compares dev accuracy with the majority class.
"""

import dataclasses
import typing

from kerarch.config import OPTIMIZERS, SCHEDULES, option
from kerarch.data.textclass import bert_inputs, encode_packed, joined_notices
from kerarch.export.adapters import bert_with_float_ids
from kerarch.frame import register_recipe
from kerarch.frame.text_classification import TextClassification, TextClassificationConfig, preset_tokenizer
from kerarch.sequence.bert import BERT_CONFIGS, bert_classifier


@dataclasses.dataclass
class BertFinetuneSst2Config(TextClassificationConfig):
    epochs: int = option(3, "Passes over the training data (paper: 2 to 4).", minimum=1)
    batch_size: int = option(32, "Global batch size, split across replicas (paper: 16 or 32).", minimum=1)
    dataset: str = option("sst2", "GLUE SST-2 (binary sentiment of movie-review sentences).", choices=("sst2",))
    data_dir: typing.Optional[str] = option(None, "The unzipped GLUE SST-2 folder (train.tsv and dev.tsv, header "
                                            "sentence<TAB>label); default: TFDS glue/sst2.")
    pretrained: typing.Optional[str] = option("bert_tiny_en_uncased", "keras-hub BERT preset (name or folder) to "
                                              "fine-tune; none, or one that fails to load: train scratch_config.")
    scratch_config: str = option("tiny", "BERT size trained without a preset.", choices=tuple(BERT_CONFIGS))
    vocabulary_size: int = option(8000, "WordPiece vocabulary learned without a preset (a preset has its own).",
                                  minimum=6)
    sequence_length: int = option(64, "Tokens per sentence, [CLS] and [SEP] included.", minimum=3)
    learning_rate: typing.Optional[float] = option(None, "Peak AdamW learning rate; none: 5e-5 with a preset (the "
                                                   "paper's grid: 2e-5 to 5e-5), 3e-4 from scratch.", minimum=0.0)
    weight_decay: float = option(0.01, "Decoupled weight decay (paper: 0.01).", minimum=0.0)
    optimizer: str = option("adamw", "Optimizer (paper: Adam with decoupled weight decay).", choices=OPTIMIZERS)
    schedule: str = option("linear", "Learning-rate schedule (paper: linear decay to 0).", choices=SCHEDULES)
    dropout: float = option(0.1, "Dropout in BERT and before the classifier (paper: 0.1).", minimum=0.0)


@register_recipe("bert-finetune-sst2")
class BertFinetuneSst2(TextClassification):
    """BERT fine-tuned on SST-2 (from scratch when no preset loads); dev accuracy vs the majority class."""

    Config = BertFinetuneSst2Config
    model_inputs = staticmethod(bert_inputs)
    export_adapter = staticmethod(bert_with_float_ids)

    def tokenizer(self, data):
        """The preset's WordPiece tokenizer, else one learned from the training sentences (with a notice)."""
        cfg = self.config
        tokenizer, why = preset_tokenizer(cfg.pretrained)
        self.preset_loaded = tokenizer is not None
        if tokenizer is None:
            tokenizer = super().tokenizer(data)
            data.notice = joined_notices(data.notice, why and (
                f"The keras-hub preset {cfg.pretrained!r} could not be loaded ({why}), so BERT ({cfg.scratch_config} "
                f"config) is trained from scratch: random initialisation and a {tokenizer.vocabulary_size():,}-token "
                "WordPiece vocabulary learned from the training sentences. Expect far lower accuracy than "
                "fine-tuning pretrained BERT."))
        return tokenizer

    def encode(self, tokenizer, texts):
        return encode_packed(tokenizer, texts, sequence_length=self.config.sequence_length)[0]

    def build_model(self, data):
        cfg = self.config
        sizes = dict(pretrained=cfg.pretrained) if self.preset_loaded else dict(
            config=cfg.scratch_config, vocabulary_size=data.vocabulary_size, max_sequence_length=cfg.sequence_length)
        model = bert_classifier(num_classes=data.num_classes, dropout=cfg.dropout, **sizes)
        learning_rate = cfg.learning_rate or (5e-5 if self.preset_loaded else 3e-4)
        return self.compile(model, data, optimizer=self.make_optimizer(data, learning_rate=learning_rate))
